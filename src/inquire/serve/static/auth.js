// Signed-in pages: every change this page sends to its own server carries the session's CSRF token
// (X-CSRF-Token; another site cannot read it), and a lapsed session leads to the sign-in page.
// Loaded before the other scripts, so their fetch calls get both without knowing of either.
"use strict";

(() => {
  const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);
  const plainFetch = window.fetch.bind(window);

  window.fetch = async (resource, init = {}) => {
    const request = resource instanceof Request ? resource : null;
    const url = new URL(request ? request.url : resource, location.href);
    const method = (init.method || (request ? request.method : "GET")).toUpperCase();
    const own = url.origin === location.origin;
    if (token && own && !SAFE.has(method)) {
      const headers = new Headers(init.headers || (request ? request.headers : undefined));
      headers.set("X-CSRF-Token", token);
      init = { ...init, headers };
    }
    const response = await plainFetch(resource, init);
    if (response.status === 401 && own) {
      location.assign("/signin?next=" + encodeURIComponent(location.pathname + location.search));
    }
    return response;
  };

  document.addEventListener("DOMContentLoaded", () => {
    const signOut = document.getElementById("sign-out");
    if (signOut) {
      signOut.addEventListener("click", async () => {
        await fetch("/signout", { method: "POST" });
        location.assign("/signin");
      });
    }
  });
})();
