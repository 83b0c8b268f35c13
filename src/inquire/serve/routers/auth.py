"""Signing in and out in the browser, and who the caller is: ``/signin``, ``/signout``, ``/api/me``.

The sign-in form takes an account's token once and answers with a session cookie (HttpOnly,
SameSite=Strict, Secure when served over HTTPS), so the token is not kept in the browser.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..accounts import SESSION_SECONDS
from ..auth import SESSION_COOKIE, SIGNIN_PATH, Viewer
from ..schemas import ErrorResponse, Me
from ..state import ServeState, State

router = APIRouter(tags=["accounts"])
MAX_NEXT = 2000


@router.get(SIGNIN_PATH, response_class=HTMLResponse, include_in_schema=False)
def signin_page(request: Request, state: State, next: Annotated[str, Query(max_length=MAX_NEXT)] = "/") -> Response:
    if getattr(request.state, "identity", None) is not None:  # signed in already, or single-user mode
        return RedirectResponse(_local(next), status_code=303)
    return _page(request, state, next, None, 200)


@router.post(SIGNIN_PATH, response_class=HTMLResponse, include_in_schema=False)
async def signin(request: Request, state: State) -> Response:
    """The form's ``token`` (and ``next``) → a session cookie and a redirect, or the form again with the reason."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return JSONResponse({"error": "Send the sign-in form (application/x-www-form-urlencoded with a token field)."}, status_code=415)
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    token, target = fields.get("token", [""])[0].strip(), _local(fields.get("next", ["/"])[0][:MAX_NEXT])
    account = state.accounts.by_token(token) if token else None
    if account is None or not account.active:
        reason = "That token is not valid." if account is None else f"The token of {account.name} was revoked."
        return _page(request, state, target, reason + " Ask an admin for a token (`inquire users add NAME`).", 401)
    session_id, _ = state.accounts.start_session(account)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(SESSION_COOKIE, session_id, max_age=SESSION_SECONDS, path="/", httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/signout", summary="End this browser's session", responses={401: {"model": ErrorResponse}})
def signout(who: Viewer, state: State) -> Response:
    if who.session_id is not None:
        state.accounts.end_session(who.session_id)
    response = JSONResponse({"signed_out": who.session_id is not None})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/api/me", response_model=Me, summary="Who the caller is and what they may do", responses={401: {"model": ErrorResponse}})
def me(who: Viewer) -> Me:
    return Me(name=who.name, role=who.role, via=who.via)


def _page(request: Request, state: ServeState, target: str, error: str | None, status: int) -> Response:
    return state.templates.TemplateResponse(request, "signin.html", {"next": target, "error": error}, status_code=status,
                                            headers={"Cache-Control": "no-store"})


def _local(target: str) -> str:
    """Only a path on this server (never ``//other.site`` or ``https://…``): the sign-in page is no open redirect."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else "/"
