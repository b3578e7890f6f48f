"""``GET /healthz``: no auth; reports whether the database answers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from sdr_agent.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(services: ServicesDep) -> JSONResponse:
    database = await services.db.ping()
    body = {"status": "ok" if database else "degraded", "database": database}
    return JSONResponse(body, status_code=200 if database else 503)
