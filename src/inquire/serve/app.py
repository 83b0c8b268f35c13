"""The FastAPI application: :func:`create_app` builds it from a :class:`ServeConfig`.

The app factory loads the model, embeddings and metadata once, so tests run the real app
in-process and ``inquire serve`` hands the same app to uvicorn. Everything a client can get wrong
is answered with a JSON body ``{"error": "...", "detail": [...]}`` and a 4xx status.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..provenance import package_version
from ..errors import InquireError
from .accounts import AccountStore
from .auth import SIGNIN_PATH, AuthMiddleware, Gate
from .config import ServeConfig, tile_origin
from .engine import SearchEngine
from .guards import MAX_SMALL_BODY, GuardMiddleware
from .labels import LabelStore
from .ratelimit import RateLimit
from .routers import auth, export, images, labels, pages, search
from .state import ServeState
from .uploads import MAX_UPLOAD, PhotoStore

HERE = Path(__file__).parent
log = logging.getLogger("inquire.serve")


def create_app(config: ServeConfig, engine: SearchEngine | None = None) -> FastAPI:
    """The search app for ``config``; pass ``engine`` to share an already loaded one."""
    engine = engine if engine is not None else SearchEngine(config)
    state = ServeState(
        config=config,
        engine=engine,
        labels=LabelStore(config.labels_path()),
        accounts=AccountStore(config.labels_path()),
        photos=PhotoStore(engine.embed_photo),
        templates=Jinja2Templates(directory=HERE / "templates"),
        label_rate=RateLimit(config.label_rate) if config.label_rate else None,
    )
    app = FastAPI(
        title="inquire search",
        version=package_version(),
        description=(
            "Search a collection of natural-world photographs by text, by one of its images or by a photo, "
            "filter by taxon, date, place, month, hour, site or any metadata column, see where and when the results "
            "and the images labelled relevant lie (map and timeline data), label results as relevant or not, refine "
            "the search with those labels, and export results, labels, Darwin Core occurrences, GeoJSON and an "
            "INQUIRE-style benchmark. "
            "Images are addressed by their row in the collection, never by a path."
        ),
        responses={400: {"description": "A request the collection cannot answer (unknown taxon, reranker …)"}},
    )
    app.state.serve = state
    # the last added runs first: the guards (Host, body size, headers) see every request and answer, then who is asking
    app.add_middleware(AuthMiddleware, gate=Gate(state.accounts, config.public))
    small = dict.fromkeys((labels.LABELS_PATH, labels.QUERIES_PATH, SIGNIN_PATH), MAX_SMALL_BODY)
    app.add_middleware(GuardMiddleware, allowed_hosts=config.allowed_hosts, body_limits={search.PHOTOS_PATH: MAX_UPLOAD, **small},
                       img_sources=(tile_origin(config.tiles),) if config.tiles else ())
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in (auth.router, pages.router, search.router, images.router, labels.router, export.router):
        app.include_router(router)
    _error_handlers(app)
    return app


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InquireError)
    async def _user_error(request: Request, exc: InquireError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [_problem(e) for e in exc.errors()]
        summary = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
        return JSONResponse({"error": f"Invalid request: {summary}", "detail": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "Internal error; the server log has the details."}, status_code=500)


def _problem(error: dict) -> dict:
    """One validation problem as field + message, without echoing large inputs back."""
    loc = [str(p) for p in error.get("loc", ())]
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]  # where the field was sent, not its name
    message = error.get("msg", "invalid")
    if error.get("type") == "json_invalid":
        loc = []  # the location is a character offset, not a field
        message = f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    message = message.removeprefix("Value error, ")
    return {"field": ".".join(loc), "message": message, "type": error.get("type", "")}
