"""FastAPI dependencies: services, database sessions, API-key auth."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

from sdr_agent.api.rate_limit import client_address, rate_limiter
from sdr_agent.services import Services
from sdr_agent.settings import Settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_app_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(services: Annotated[Services, Depends(get_services)]) -> AsyncIterator[AsyncSession]:
    async with services.db.session() as session:
        yield session


def key_is_valid(presented: str | None, settings: Settings) -> bool:
    if not presented:
        return False
    # Compare against every key so timing does not reveal which one (or whether any) matched.
    matched = False
    for key in settings.api_keys:
        matched |= hmac.compare_digest(presented.encode(), key.get_secret_value().encode())
    return matched


async def require_api_key(request: Request) -> None:
    await authenticate(request, request.headers.get("xi-api-key"))


async def authenticate(request: Request, presented: str | None) -> None:
    """401 for a missing/wrong key, 429 (``Retry-After``) past the key's rate limit or the address's
    failed-attempt limit (``api.rate_limit``)."""
    settings = get_app_settings(request)
    if getattr(request.app.state, "insecure_dev", False) and not settings.api_keys:
        return
    limiter = rate_limiter(request)
    if not key_is_valid(presented, settings):
        await limiter.note_failure(client_address(request))
        raise HTTPException(status_code=401, detail="missing or invalid xi-api-key header")
    assert presented is not None
    await limiter.admit_key(presented, client_address(request))


ServicesDep = Annotated[Services, Depends(get_services)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
