"""Images and thumbnails, by row of the collection only: ``/api/images/{row}[/thumbnail]``.

A client can never name a file: the path comes from the collection's metadata and must resolve
inside the images root.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import FileResponse

from ..auth import VIEWER
from ..images import ImageNotFound, media_type
from ..schemas import ErrorResponse
from ..state import ServeState, State, row_or_404

router = APIRouter(prefix="/api/images", tags=["images"], dependencies=[Depends(VIEWER)],
                   responses={401: {"model": ErrorResponse}, 404: {"model": ErrorResponse}})
Row = Annotated[int, Path(ge=0, description="The image's row in the collection (from a search result).")]
_IMAGE = {200: {"content": {"image/jpeg": {}}, "description": "The image file."}}


def _path(state: ServeState, row: int) -> str:
    engine = state.engine
    if engine.images is None:
        raise HTTPException(404, "This server has no images root (start it with --images ROOT).")
    return str(engine.meta.value(row_or_404(state, row), "image_path"))


@router.get("/{row}", response_class=FileResponse, responses=_IMAGE, summary="The original image of a row")
def image(row: Row, state: State) -> FileResponse:
    image_path = _path(state, row)
    try:
        path = state.engine.images.file(image_path)
    except ImageNotFound as exc:
        raise HTTPException(404, f"Image of row {row}: {exc}.") from None
    return FileResponse(path, media_type=media_type(path), headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{row}/thumbnail", response_class=FileResponse, responses=_IMAGE, summary="A JPEG thumbnail of a row")
def thumbnail(row: Row, state: State) -> FileResponse:
    """Made on first request and cached on disk; later requests read the cached file."""
    image_path = _path(state, row)
    try:
        path = state.engine.images.thumbnail(row, image_path)
    except ImageNotFound as exc:
        raise HTTPException(404, f"Thumbnail of row {row}: {exc}.") from None
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
