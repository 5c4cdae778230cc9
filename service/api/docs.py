"""The API's documentation page, ``/docs`` (Swagger UI), served whole by the API itself: FastAPI's
own page loads Swagger UI from a public CDN, so on a network without internet access (a common
cluster) it stayed blank.

Swagger UI's files are ``swagger-ui-dist``'s (Apache-2.0, its LICENSE and NOTICE beside them),
vendored in ``static/swagger-ui/``. To update: ``npm pack swagger-ui-dist@5`` and copy the files
of that folder from the tarball's ``package/`` over them.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = f"{DOCS_URL}/oauth2-redirect"
ASSETS_URL = f"{DOCS_URL}/static"
SCRIPT, STYLE, ICON = "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"
PUBLIC_PATHS = frozenset(
    {DOCS_URL, OAUTH2_REDIRECT_URL, *(f"{ASSETS_URL}/{name}" for name in (SCRIPT, STYLE, ICON))}
)
"""What the page and its assets are: public, as the schema it shows is."""


def install(app: FastAPI) -> None:
    """Serve the page and its assets (FastAPI's self-hosting recipe: the app is made with
    ``docs_url=None``); every URL in the page is the API's own, under the request's root path
    as FastAPI puts the schema's."""
    app.mount(
        ASSETS_URL,
        StaticFiles(packages=[(__package__ or "", "static/swagger-ui")]),
        name="swagger-ui",
    )

    async def page(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS_URL}/{SCRIPT}",
            swagger_css_url=f"{root}{ASSETS_URL}/{STYLE}",
            swagger_favicon_url=f"{root}{ASSETS_URL}/{ICON}",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_ui_parameters=app.swagger_ui_parameters,
        )

    async def oauth2_redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    app.add_route(DOCS_URL, page, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_URL, oauth2_redirect, include_in_schema=False)
