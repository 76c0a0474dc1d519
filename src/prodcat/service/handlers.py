"""Errors become JSON answers with one readable ``detail`` line; no input gives a 500."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from prodcat.errors import ProdcatError

MAX_LISTED_ERRORS = 3


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(ProdcatError, _prodcat_error)
    app.add_exception_handler(HTTPException, _http_error)


async def _prodcat_error(request: Request, exc: ProdcatError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = [_field_error(error) for error in exc.errors()]
    return JSONResponse({"detail": _summary(errors), "errors": errors}, status_code=422)


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, ValueError):  # FastAPI could not decode the JSON body
        detail = f"the request body is not valid JSON text; send UTF-8 encoded JSON ({_first_line(cause)})"
        return JSONResponse({"detail": detail}, status_code=422)
    return JSONResponse({"detail": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers)


def _field_error(error: dict) -> dict:
    loc = [part if isinstance(part, int) else str(part) for part in error.get("loc", ())]
    if loc[:1] == ["body"]:
        loc = loc[1:]
    kind = str(error.get("type", "invalid"))
    msg = str(error.get("msg", "invalid value"))
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        msg = f"the request body is not valid JSON: {reason} at character {loc[0] if loc else 0}"
        loc = []
    elif kind == "missing" and not loc:
        msg = 'the request body is missing; send JSON like {"items": [{"title": "..."}]}'
    return {"loc": loc, "msg": msg, "type": kind}


def _summary(errors: list[dict]) -> str:
    parts = [f"{_location(e['loc'])}: {e['msg']}" if e["loc"] else e["msg"] for e in errors[:MAX_LISTED_ERRORS]]
    more = len(errors) - MAX_LISTED_ERRORS
    return "; ".join(parts) + (f" (and {more} more problems)" if more > 0 else "")


def _location(loc: list) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
