"""Optional API keys. With keys set, every ``/v1`` route needs ``Authorization: Bearer <key>`` (401
without a valid one); ``/healthz``, ``/readyz``, the page, its files and the API docs stay open, and
the page asks for a key. Keys come from ``prodcat serve --api-key-file`` or ``PRODCAT_API_KEYS``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from prodcat.errors import ProdcatError
from prodcat.service.dependencies import get_settings
from prodcat.service.settings import API_KEYS_ENV, Settings

MAX_KEY_FILE_BYTES = 1024 * 1024
CHALLENGE = {"WWW-Authenticate": "Bearer"}

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="api_key",
    description="An API key of the service (prodcat serve --api-key-file or PRODCAT_API_KEYS), sent as 'Authorization: Bearer <key>'.",
)


async def require_api_key(
    settings: Annotated[Settings, Depends(get_settings)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """Nothing when no keys are set or the request's bearer key is one of them; otherwise 401."""
    if not settings.api_keys:
        return
    if credentials is None:
        raise HTTPException(401, "this service needs an API key: send the header 'Authorization: Bearer <key>'", headers=CHALLENGE)
    if not key_matches(credentials.credentials, settings.api_keys):
        raise HTTPException(401, "the API key is not valid; send one of the keys the service was started with", headers=CHALLENGE)


def key_matches(given: str, keys: Sequence[str]) -> bool:
    """Whether ``given`` is one of ``keys``, in time that depends on neither (digests of equal length,
    each compared with ``hmac.compare_digest``, all of them every time)."""
    digest = hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest()
    matches = [hmac.compare_digest(digest, hashlib.sha256(key.encode("utf-8")).digest()) for key in keys]
    return any(matches)


def configured_api_keys(key_file: Path | None, environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The keys in ``key_file``, or else in ``PRODCAT_API_KEYS``; none when neither is given."""
    environ = os.environ if environ is None else environ
    from_env = environ.get(API_KEYS_ENV, "").strip()
    if key_file is None:
        return parse_api_keys(from_env.replace(",", "\n"), API_KEYS_ENV) if from_env else ()
    if from_env:
        raise ProdcatError(f"both --api-key-file and {API_KEYS_ENV} are set; use one of them")
    return parse_api_keys(_read_key_file(key_file), str(key_file))


def parse_api_keys(text: str, source: str) -> tuple[str, ...]:
    """One key per line; blank lines and lines starting with ``#`` are skipped."""
    keys = tuple(line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
    if not keys:
        raise ProdcatError(f"{source} holds no API key; put one key per line")
    return keys


def _read_key_file(path: Path) -> str:
    try:
        if not path.is_file():
            raise ProdcatError(f"the API key file {path} does not exist or is not a regular file")
        if path.stat().st_size > MAX_KEY_FILE_BYTES:
            raise ProdcatError(f"the API key file {path} is over {MAX_KEY_FILE_BYTES:,} bytes; put one key per line")
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProdcatError(f"the API key file {path} is not UTF-8 text; put one key per line") from None
    except OSError as exc:
        raise ProdcatError(f"cannot read the API key file {path}: {exc.strerror or exc}") from None
