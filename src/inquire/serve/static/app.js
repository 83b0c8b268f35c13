// The search page: sends the form to the JSON API and draws the results. Every value from the
// collection is put in the page with textContent, never as HTML.
"use strict";

const FIELDS = ["q", "k", "iconic_group", "taxon", "date_from", "date_to", "lat_min", "lat_max", "lon_min", "lon_max",
  "months", "hour_from", "hour_to", "site", "where", "rerank", "rerank_from"];
const $ = (id) => document.getElementById(id);
let current = null; // the query text of the results on screen (labels are kept under it)
const example = { like: null, photo: null, photoName: "" }; // image parts of the query, mixed with the words

function params() {
  const out = {};
  for (const name of FIELDS) {
    const el = $(name);
    if (el && el.value.trim() !== "") out[name] = el.value.trim();
  }
  return out;
}

// The page's "where" box holds clauses joined by ";"; the API takes each as its own "where" item.
const clauses = (text) => text.split(";").map((c) => c.trim()).filter(Boolean);

// Query parameters for a GET of the API: a field per name, "where" repeated once per clause.
function apiQuery(p) {
  const out = new URLSearchParams();
  for (const [name, value] of Object.entries(p)) {
    for (const v of name === "where" ? clauses(value) : [value]) out.append(name, v);
  }
  return out.toString();
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const data = await response.json().catch(() => ({ error: response.statusText }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

async function search(event, refine = false) {
  if (event) event.preventDefault();
  const p = params();
  if (example.like !== null) p.like = String(example.like);
  if (example.photo) p.photo = example.photo;
  if (!p.q && !p.like && !p.photo) return;
  const body = { ...p, k: Number(p.k || 20), refine };
  for (const name of ["lat_min", "lat_max", "lon_min", "lon_max", "hour_from", "hour_to", "rerank_from", "like"]) {
    if (name in body) body[name] = Number(body[name]);
  }
  if (body.where) body.where = clauses(body.where);
  showError("");
  $("status").textContent = refine ? "Refining with your labels…" : "Searching…";
  $("search-button").disabled = true;
  try {
    const data = await api("POST", "/api/search", body);
    current = data.query;
    render(data);
    const shown = { ...p };
    delete shown.photo; // uploaded photos are kept only for a while: not part of a shareable URL
    if (refine) shown.refine = "true";
    history.replaceState(null, "", "?" + new URLSearchParams(shown).toString());
    $("export-results").href = "/api/export/results.csv?" + apiQuery({ ...p, refine: String(refine) });
    for (const [id, kind] of [["export-occurrences", "csv"], ["export-geojson", "geojson"]]) {
      $(id).hidden = !current;
      if (current) $(id).href = `/api/export/occurrences.${kind}?` + new URLSearchParams({ query: current }).toString();
    }
    $("tools").hidden = false;
    if (window.inquireGeo) window.inquireGeo.update(body);
    $("refine").disabled = !current;
    if (current && document.body.dataset.role !== "viewer") loadQueryInfo(data.query); // viewers may not read query details
  } catch (err) {
    $("status").textContent = "";
    showError(err.message);
  } finally {
    $("search-button").disabled = false;
  }
}

function describe(data) {
  const parts = [];
  if (data.query) parts.push(`“${data.query}”`);
  if (data.like !== null) parts.push(`more like #${data.like}`);
  if (data.photo) parts.push(`your photo ${example.photoName}`.trim());
  return parts.join(" + ");
}

function render(data) {
  const t = data.timings_ms;
  const fb = data.feedback;
  const refined = fb ? ` · refined (${fb.method}) with ${fb.n_relevant} relevant and ${fb.n_not_relevant} not relevant` +
    (fb.n_not_in_collection ? `, ${fb.n_not_in_collection} labels of images not in this collection unused` : "") +
    (fb.n_tied ? `, ${fb.n_tied} images with tied judges unused` : "") : "";
  $("status").textContent = `${data.results.length} results for ${describe(data)} among ${data.n_allowed.toLocaleString()} of ${data.n_images.toLocaleString()} images` +
    refined + ` · ${Math.round(t.total)} ms (text ${Math.round(t.encode)}, search ${Math.round(t.search)}${data.rerank ? ", rerank " + Math.round(t.rerank) : ""})`;
  const list = $("results");
  list.replaceChildren(...data.results.map(card));
  $("no-labels").hidden = Boolean(current) || data.results.length === 0;
}

function showExample() {
  $("like-chip").hidden = example.like === null;
  $("like-label").textContent = example.like === null ? "" : `More like #${example.like}`;
  $("photo-chip").hidden = !example.photo;
  $("photo-label").textContent = example.photo ? `Photo: ${example.photoName}` : "";
}

function moreLikeThis(row) {
  example.like = row;
  showExample();
  search();
}

async function uploadPhoto() {
  const file = $("photo-file").files[0];
  if (!file) return;
  showError("");
  $("status").textContent = "Uploading the photo…";
  try {
    const response = await fetch("/api/photos", { method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file });
    const data = await response.json().catch(() => ({ error: response.statusText }));
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    example.photo = data.photo;
    example.photoName = file.name;
    const reader = new FileReader();
    reader.onload = () => { $("photo-preview").src = reader.result; };
    reader.readAsDataURL(file);
    showExample();
    await search();
  } catch (err) {
    $("status").textContent = "";
    showError("Photo not used: " + err.message);
  } finally {
    $("photo-file").value = "";
  }
}

function card(item) {
  const node = $("card").content.firstElementChild.cloneNode(true);
  node.dataset.row = item.row;
  const link = node.querySelector(".image-link");
  if (item.thumbnail_url) {
    link.href = item.image_url;
    const img = node.querySelector("img");
    img.src = item.thumbnail_url;
    img.alt = item.species || item.image_path;
  } else {
    link.remove();
  }
  const score = item.score === null ? "not scored" : item.score.toFixed(3);
  node.querySelector(".rank").textContent = `#${item.rank} · ${score}` + (item.rerank_error ? ` (${item.rerank_error})` : "");
  node.querySelector(".species").textContent = item.species || item.image_path;
  node.querySelector(".when-where").textContent = [[item.date, item.time].filter(Boolean).join(" "), item.place].filter(Boolean).join(" · ");
  node.querySelector(".site").textContent = item.site ? `Site: ${item.site}` : "";
  node.querySelector(".attribution").textContent = item.attribution;
  for (const button of node.querySelectorAll("button.label")) {
    button.addEventListener("click", () => label(node, item.row, button.dataset.relevant === "true"));
  }
  node.querySelector(".label-buttons").hidden = !current;
  node.querySelector("button.more-like").addEventListener("click", () => moreLikeThis(item.row));
  showLabel(node, item.label, item.my_label, item.judgements);
  return node;
}

// The card shows the consensus (the majority of all judges), the buttons the signed-in person's own
// judgement, and a line with the others' judgements, marked where the judges disagree.
function showLabel(node, consensus, mine, judgements) {
  node.classList.toggle("is-relevant", consensus === true);
  node.classList.toggle("is-not-relevant", consensus === false);
  node.querySelector(".relevant").setAttribute("aria-pressed", String(mine === true));
  node.querySelector(".not-relevant").setAttribute("aria-pressed", String(mine === false));
  const votes = Object.values(judgements);
  const disagree = votes.includes(true) && votes.includes(false);
  const others = Object.entries(judgements).filter(([name]) => name !== document.body.dataset.user);
  node.classList.toggle("disagree", disagree);
  node.querySelector(".judgements").textContent = others.length === 0 ? "" :
    (disagree ? (consensus === null ? "Judges disagree, tied: no consensus · " : "Judges disagree · ") : "") +
    others.map(([name, relevant]) => `${name}: ${relevant ? "relevant" : "not relevant"}`).join(" · ");
}

async function label(node, row, relevant) {
  const pressed = node.querySelector(relevant ? ".relevant" : ".not-relevant").getAttribute("aria-pressed") === "true";
  try {
    if (pressed) {
      const left = await api("DELETE", "/api/labels?" + new URLSearchParams({ query: current, row }).toString());
      showLabel(node, left.consensus, null, left.judgements);
    } else {
      const saved = await api("PUT", "/api/labels", { query: current, row, relevant });
      showLabel(node, saved.consensus, saved.relevant, saved.judgements);
    }
    showError("");
    if (window.inquireGeo) window.inquireGeo.refresh(); // the map colours what is labelled relevant
  } catch (err) {
    showError("Label not saved: " + err.message);
  }
}

async function loadQueryInfo(query) {
  const queries = await api("GET", "/api/queries").catch(() => []);
  const info = queries.find((q) => q.query_text === query) || {};
  $("supercategory").value = info.supercategory || "";
  $("category").value = info.category || "";
  $("query_iconic_group").value = info.iconic_group || $("iconic_group").value || "";
}

async function saveQueryInfo(event) {
  event.preventDefault();
  if (!current) return;
  try {
    await api("PUT", "/api/queries", {
      query: current, supercategory: $("supercategory").value,
      category: $("category").value, iconic_group: $("query_iconic_group").value,
    });
    showError("");
  } catch (err) {
    showError("Query details not saved: " + err.message);
  }
}

let taxonTimer = null;
function suggestTaxa() {
  clearTimeout(taxonTimer);
  const prefix = $("taxon").value.trim();
  if (prefix.length < 2) return;
  taxonTimer = setTimeout(async () => {
    const taxa = await api("GET", "/api/taxa?" + new URLSearchParams({ prefix }).toString()).catch(() => []);
    $("taxon-list").replaceChildren(...taxa.map((t) => {
      const option = document.createElement("option");
      option.value = t.name;
      option.label = t.level;
      return option;
    }));
  }, 200);
}

function restore() {
  const url = new URLSearchParams(location.search);
  for (const name of FIELDS) {
    if (url.has(name) && $(name)) $(name).value = url.get(name);
  }
  if (url.has("like") && /^\d+$/.test(url.get("like"))) example.like = Number(url.get("like"));
  showExample();
  if (url.get("q") || example.like !== null) search(null, url.get("refine") === "true");
}

document.addEventListener("DOMContentLoaded", () => {
  $("search-form").addEventListener("submit", (event) => search(event));
  $("refine").addEventListener("click", () => search(null, true));
  $("photo-file").addEventListener("change", uploadPhoto);
  $("clear-like").addEventListener("click", () => { example.like = null; showExample(); search(); });
  $("clear-photo").addEventListener("click", () => { example.photo = null; example.photoName = ""; showExample(); search(); });
  $("query-info").addEventListener("submit", saveQueryInfo);
  $("taxon").addEventListener("input", suggestTaxa);
  for (const el of document.querySelectorAll("#filters select")) {
    el.addEventListener("change", () => { if ($("q").value.trim() || example.like !== null || example.photo) search(); });
  }
  restore();
});
