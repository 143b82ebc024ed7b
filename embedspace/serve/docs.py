"""The API's docs page (Swagger UI) served from this machine: the page and its assets come from
the swagger-ui-bundle-v2 package, so they work offline and no browser fetches a CDN. Only the
assets the page uses are served (not the package's demo index.html, which points at the internet)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from ..errors import MissingDependencyError

ASSET_ROUTE = "/docs/assets"
ASSETS = {"swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css", "favicon-32x32.png": "image/png"}


def swagger_folder():
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        raise MissingDependencyError("The docs page needs the Python package 'swagger-ui-bundle-v2' (Swagger UI's "
                                     "files). Install it with: pip install swagger-ui-bundle-v2") from None
    return swagger_ui_path


def add_docs(app: FastAPI) -> None:
    folder = swagger_folder()

    @app.get("/docs", include_in_schema=False, name="docs")
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url, title=f"{app.title} API",
            swagger_js_url=f"{ASSET_ROUTE}/swagger-ui-bundle.js", swagger_css_url=f"{ASSET_ROUTE}/swagger-ui.css",
            swagger_favicon_url=f"{ASSET_ROUTE}/favicon-32x32.png",
            swagger_ui_parameters={"persistAuthorization": False, "tryItOutEnabled": True, "validatorUrl": None},
        )

    for file, media_type in ASSETS.items():
        path = folder / file
        app.add_api_route(f"{ASSET_ROUTE}/{file}", _serve(path, media_type), methods=["GET"], include_in_schema=False,
                          name="docs")


def _serve(path, media_type: str):
    async def asset() -> FileResponse:
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})

    return asset
