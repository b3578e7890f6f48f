"""OpenAPI schema and Swagger UI, behind the same API key as ``/v1``.

A browser cannot set ``xi-api-key`` on a page load, so these two routes also take ``?api_key=``; the page
passes it on to the schema request. The schema declares the header so "Authorize" in the UI works for ``/v1``.
Swagger UI's script and stylesheet are served from the ``fastapi-offline`` package (Swagger UI 5, MIT licence,
bundled in the wheel), so the docs work on a machine without internet: no CDN at run time.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response

from sdr_agent.api.deps import authenticate, get_app_settings

router = APIRouter(include_in_schema=False)

# Swagger UI's own assets (public files, no secrets, so no key is asked for them).
_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}
_ASSET_ROOT = "/docs/static"


def _presented_key(request: Request) -> str | None:
    return request.headers.get("xi-api-key") or request.query_params.get("api_key")


async def _check(request: Request) -> str | None:
    """The same check as ``/v1`` (rate limits and the failed-attempt throttle included)."""
    settings = get_app_settings(request)
    if getattr(request.app.state, "insecure_dev", False) and not settings.api_keys:
        return None
    key = _presented_key(request)
    await authenticate(request, key)
    return key


def _schema_with_auth(schema: dict[str, Any]) -> dict[str, Any]:
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["ApiKey"] = {
        "type": "apiKey",
        "in": "header",
        "name": "xi-api-key",
    }
    for path, operations in schema.get("paths", {}).items():
        if path.startswith("/v1/"):
            for operation in operations.values():
                operation.setdefault("security", [{"ApiKey": []}])
    return schema


@router.get("/openapi.json")
async def openapi_schema(request: Request) -> JSONResponse:
    await _check(request)
    return JSONResponse(_schema_with_auth(dict(request.app.openapi())))


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    key = await _check(request)
    schema_url = "/openapi.json" + (f"?api_key={quote(key, safe='')}" if key else "")
    return get_swagger_ui_html(
        openapi_url=schema_url, title="sdr-agent API",
        swagger_js_url=f"{_ASSET_ROOT}/swagger-ui-bundle.js", swagger_css_url=f"{_ASSET_ROOT}/swagger-ui.css",
        swagger_favicon_url=f"{_ASSET_ROOT}/favicon.png",
    )


@router.get(_ASSET_ROOT + "/{name}")
async def swagger_asset(name: str) -> Response:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404, detail="no such asset")
    data = files("fastapi_offline").joinpath("static", name).read_bytes()
    return Response(data, media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
