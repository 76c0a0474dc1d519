"""The service's settings: which model to serve, the request limits, the API keys and the web
origins whose pages may call the API (CORS).

``prodcat serve`` builds them from its options; with several workers uvicorn imports the app itself,
so the same settings travel through ``PRODCAT_*`` environment variables (``Settings.from_env``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

from prodcat.errors import ProdcatError

ENV_PREFIX = "PRODCAT_"
DEFAULT_MAX_ITEMS = 256
DEFAULT_MAX_TEXT_CHARS = 20_000
DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
API_KEYS_ENV = ENV_PREFIX + "API_KEYS"
CORS_ORIGINS_ENV = ENV_PREFIX + "CORS_ORIGINS"
_ORIGIN = re.compile(r"https?://[^/\s,:]+(:\d{1,5})?")
DEFAULT_TIMEOUT_READ = 30.0  # the server's (prodcat.service.server), here to keep uvicorn out of prodcat --help
DEFAULT_TIMEOUT_KEEP_ALIVE = 5
DEFAULT_LIMIT_CONCURRENCY = 512
MIN_API_KEY_CHARS = 16


@dataclass(frozen=True)
class Settings:
    """``model`` is a directory made by ``prodcat train``; the limits bound one request; with
    ``api_keys``, the API needs one of them (``prodcat.service.auth``); pages served from one of
    ``cors_origins`` (``scheme://host[:port]``, or ``*`` for any) may call it from a browser."""

    model: Path
    max_items: int = DEFAULT_MAX_ITEMS
    max_text_chars: int = DEFAULT_MAX_TEXT_CHARS
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    cors_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", Path(self.model))
        object.__setattr__(self, "api_keys", tuple(self.api_keys))
        object.__setattr__(self, "cors_origins", tuple(origin.rstrip("/") for origin in self.cors_origins))
        for origin in self.cors_origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ProdcatError(f"CORS origin {origin!r} is not an origin; give scheme://host[:port], "
                                   "e.g. https://admin.example.com, or * for any")
        for name in ("max_items", "max_text_chars", "max_body_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProdcatError(f"the service setting {name} must be a positive whole number; got {value!r}")
        for number, key in enumerate(self.api_keys, 1):
            _check_api_key(key, number)

    def to_env(self) -> dict[str, str]:
        """These settings as ``PRODCAT_*`` environment variables, for worker processes."""
        env = {ENV_PREFIX + f.name.upper(): str(getattr(self, f.name)) for f in fields(self) if f.name not in _LISTS}
        return env | {ENV_PREFIX + name.upper(): ",".join(getattr(self, name)) for name in _LISTS if getattr(self, name)}

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        """Settings from ``PRODCAT_MODEL``, ``PRODCAT_MAX_ITEMS``, ``PRODCAT_MAX_TEXT_CHARS``,
        ``PRODCAT_MAX_BODY_BYTES``, ``PRODCAT_API_KEYS`` and ``PRODCAT_CORS_ORIGINS`` (comma-separated)."""
        environ = os.environ if environ is None else environ
        model = environ.get(ENV_PREFIX + "MODEL")
        if not model:
            raise ProdcatError(f"{ENV_PREFIX}MODEL is not set; set it to a model directory made by 'prodcat train'")
        limits = {}
        for f in fields(cls):
            raw = environ.get(ENV_PREFIX + f.name.upper())
            if f.name == "model" or f.name in _LISTS or raw is None:
                continue
            try:
                limits[f.name] = int(raw)
            except ValueError:
                raise ProdcatError(f"{ENV_PREFIX}{f.name.upper()}={raw!r} is not a whole number") from None
        lists = {name: comma_list(environ.get(ENV_PREFIX + name.upper(), "")) for name in _LISTS}
        return cls(model=Path(model), **lists, **limits)


_LISTS = ("api_keys", "cors_origins")  # settings that travel comma-separated


def _check_api_key(key: str, number: int) -> None:
    """A key travels in an HTTP header and, comma-separated, in ``PRODCAT_API_KEYS``."""
    if not isinstance(key, str) or len(key) < MIN_API_KEY_CHARS:
        raise ProdcatError(
            f"API key {number} is shorter than {MIN_API_KEY_CHARS} characters; make keys long and random, "
            f"e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    if not key.isascii() or not key.isprintable() or any(char in key for char in " ,"):
        raise ProdcatError(f"API key {number} holds a space, a comma or a character outside printable ASCII; use letters, digits and -._~+/=")


@lru_cache(maxsize=1)
def settings_from_env() -> Settings:
    """The process's settings from its environment, read once."""
    return Settings.from_env()


def configured_cors_origins(origins: list[str] | None, environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """``--cors-origin`` values, or else those in ``PRODCAT_CORS_ORIGINS`` (comma-separated)."""
    environ = os.environ if environ is None else environ
    if origins:
        return tuple(origins)
    return comma_list(environ.get(CORS_ORIGINS_ENV, ""))


def comma_list(value: str) -> tuple[str, ...]:
    """The non-empty items of a comma-separated environment variable, stripped."""
    return tuple(item.strip() for item in value.split(",") if item.strip())
