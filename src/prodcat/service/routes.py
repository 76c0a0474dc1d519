"""The routes, one router per concern: health, the categorization API, and the page at ``/``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, JSONResponse

from prodcat.service.dependencies import ServedModel, get_served_model, get_settings
from prodcat.service.limits import check_item_limits
from prodcat.service.schemas import CategorizeRequest, CategorizeResponse, ErrorResponse, ExplanationResult, ItemResult, ModelDescription, Status
from prodcat.service.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
EXPLAINED_TERMS = 5  # terms on each side of an explanation

Served = Annotated[ServedModel, Depends(get_served_model)]
CurrentSettings = Annotated[Settings, Depends(get_settings)]

ERRORS = {
    413: {"model": ErrorResponse, "description": "The body is over max_body_bytes."},
    422: {"model": ErrorResponse, "description": "Invalid JSON or fields, or over max_items / max_text_chars."},
    503: {"model": ErrorResponse, "description": "The model is still loading."},
}
KEY_ERRORS = {401: {"model": ErrorResponse, "description": "No API key, or not one of the service's (when it is started with keys)."}}

health = APIRouter(tags=["health"])
api = APIRouter(prefix="/v1", tags=["categorize"], responses=ERRORS)
page = APIRouter(include_in_schema=False)


@health.get("/healthz", response_model=Status)
async def liveness() -> Status:
    """The process is up (always 200)."""
    return Status(status="ok")


@health.get("/readyz", response_model=Status, responses={503: {"model": Status}})
async def readiness(request: Request):
    """200 once the model is loaded, 503 before."""
    if getattr(request.app.state, "served", None) is None:
        return JSONResponse(Status(status="loading", detail="the model is not loaded yet").model_dump(), status_code=503)
    return Status(status="ready")


@api.post("/categorize", response_model=CategorizeResponse)
def categorize(body: CategorizeRequest, served: Served, settings: CurrentSettings) -> CategorizeResponse:
    """Categorize the items of one request in one model call."""
    texts = [item.joined_text() for item in body.items]
    check_item_limits(texts, settings)
    predictions = served.categorize(texts, top_k=body.top_k)
    results = [ItemResult(id=item.id, **prediction.to_dict()) for item, prediction in zip(body.items, predictions)]
    if body.explain:
        for text, result in zip(texts, results):
            if result.category is not None:
                result.explanation = ExplanationResult(**served.explain(text, top=EXPLAINED_TERMS).to_dict())
    return CategorizeResponse(model=served.info(), items=results)


@api.get("/model", response_model=ModelDescription)
def model_description(served: Served) -> dict:
    """The served model: labels, family, calibration, review threshold and test metrics."""
    return served.describe()


@page.get("/")
async def index() -> FileResponse:
    """The page to try the service in a browser."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
