"""FastAPI dependencies: services, database sessions, API-key auth."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession

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
    settings = get_app_settings(request)
    if getattr(request.app.state, "insecure_dev", False) and not settings.api_keys:
        return
    if not key_is_valid(request.headers.get("xi-api-key"), settings):
        raise HTTPException(status_code=401, detail="missing or invalid xi-api-key header")


ServicesDep = Annotated[Services, Depends(get_services)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
