"""What the platform's server-rendered pages share (identity's sign-in pages, the
hosted payment pages): the stylesheet, the form macros (``macros.html``: error summary,
inputs with hints and errors, buttons) and the security headers.

Pages work without JavaScript, use GOV.UK Design System patterns (an error summary
that links to each field, labels and hints tied to their inputs) and send a strict
Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

#: The shared templates (``macros.html``).
TEMPLATES_DIR = Path(__file__).parent / "templates"
#: The shared stylesheet (``govplat.css``).
STATIC_DIR = Path(__file__).parent / "static"
#: The stylesheets, read once: name → bytes.
STYLESHEETS = {path.name: path.read_bytes() for path in STATIC_DIR.glob("*.css")}

#: Headers of every page (a service may add to the Content-Security-Policy).
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


def environment(service_templates: Path) -> jinja2.Environment:
    """A Jinja2 environment over a service's own templates and the shared ones
    (autoescaping on, unknown names an error)."""
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(service_templates), jinja2.FileSystemLoader(TEMPLATES_DIR)]
        ),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
