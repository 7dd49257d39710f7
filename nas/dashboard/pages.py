"""The dashboard's HTML: one page shell that `dashboard.js` fills in from the REST API (served
live by `nas serve`), or from data embedded in the page (`nas report`).

Everything the pages load is served from this package or the plotly wheel: nothing from a CDN.
"""

from __future__ import annotations

import html
import importlib.resources
import json
from functools import cache
from pathlib import Path
from typing import Any

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"dashboard.js": "text/javascript", "dashboard.css": "text/css", "plotly.min.js": "text/javascript"}


@cache
def static_file(name: str) -> bytes:
    """A file the pages load: ours, or plotly.js as the plotly wheel ships it."""
    if name == "plotly.min.js":
        return importlib.resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
    return (STATIC / name).read_bytes()


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element ('</script>' in a job name cannot end it)."""
    return json.dumps(data, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(title: str, boot: dict[str, Any], *, inline: bool = False, who: str | None = None) -> str:
    """The page shell. `boot` tells the script which page it is (and, for a report, holds the
    data); `inline` embeds the script, styles and plotly.js so the file stands alone."""
    if inline:
        styles = f"<style>{static_file('dashboard.css').decode()}</style>"
        scripts = "".join(f"<script>{static_file(name).decode()}</script>" for name in ("plotly.min.js", "dashboard.js"))
        nav = ""
    else:
        styles = '<link rel="stylesheet" href="/static/dashboard.css">'
        scripts = '<script src="/static/plotly.min.js"></script><script src="/static/dashboard.js"></script>'
        account = f'<span id="who">{html.escape(who or "")}</span><form method="post" action="/logout"><button id="logout" type="submit">Log out</button></form>'
        nav = f'<nav><a href="/">Jobs</a><a href="/docs">API</a>{account}</nav>'
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{html.escape(title)}</title>{styles}</head><body>'
        f'<header><a class="brand" href="{"#" if inline else "/"}">transformer-nas</a>{nav}</header>'
        f'<main id="app"><p class="muted">Loading…</p></main>'
        f'<script id="boot" type="application/json">{_script_json(boot)}</script>{scripts}</body></html>'
    )


def render_login(error: str | None = None, next_path: str = "/") -> str:
    message = f'<p class="error" id="login-error">{html.escape(error)}</p>' if error else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>Log in · transformer-nas</title>'
        '<link rel="stylesheet" href="/static/dashboard.css"></head><body>'
        '<header><span class="brand">transformer-nas</span></header><main class="login">'
        "<h1>Log in</h1><p>Paste your API key (<code>nas users add NAME</code> prints it) or the server's token.</p>"
        f'{message}<form method="post" action="/login"><input type="hidden" name="next" value="{html.escape(next_path)}">'
        '<input id="key" name="key" type="password" autocomplete="current-password" placeholder="nask_…" required autofocus>'
        '<button id="login" type="submit">Log in</button></form></main></body></html>'
    )


def safe_next(path: str | None) -> str:
    """Where to go after logging in: a path on this server only (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path
