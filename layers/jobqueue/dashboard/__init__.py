"""The web dashboard's files: one HTML page, one script, one style sheet, no build step and nothing fetched from
anywhere else. `jobqueue.api.routes.dashboard` serves them at `/dashboard` and imports this module only then.

The page's Content-Security-Policy lets it load its own two files and call its own origin, nothing else (no
inline script, no other site's frames or forms); the token it signs in with stays in the tab's sessionStorage.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

__all__ = ["FILES", "HEADERS", "asset"]

FILES = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
         "app.css": "text/css; charset=utf-8"}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _read(name: str) -> str:
    return files(__name__).joinpath(name).read_text(encoding="utf-8")


def asset(name: str) -> tuple[str, str, dict[str, str]] | None:
    """(content type, text, headers) of one of the dashboard's FILES, or None for any other name."""
    if name not in FILES:
        return None
    return FILES[name], _read(name), HEADERS
