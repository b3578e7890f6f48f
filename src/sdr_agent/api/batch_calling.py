"""ElevenLabs batch calling (`/v1/convai/batch-calling/...`): the SDK's `batch_calls` client works as is."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response

from sdr_agent.api.deps import ServicesDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.schemas.campaigns import SchemaError, SubmitBody, batch_json, recipient_json
from sdr_agent.api.schemas.paging import invalid_cursor
from sdr_agent.campaigns import actions
from sdr_agent.campaigns.clock import clock_of
from sdr_agent.campaigns.runtime import wake
from sdr_agent.campaigns.submit import SubmitError, submit_campaign
from sdr_agent.storage.repos import campaigns as campaigns_repo
from sdr_agent.storage.repos.pagination import InvalidCursorError

router = APIRouter(
    prefix="/v1/convai/batch-calling", tags=["batch-calling"], dependencies=[Depends(require_api_key)]
)


@router.post("/submit")
async def submit(body: SubmitBody, services: ServicesDep) -> dict[str, Any]:
    try:
        batch = await submit_campaign(services, body.to_request(), clock_of(services))
    except SchemaError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from exc
    except SubmitError as exc:
        raise HTTPException(status_code=exc.status_code, detail=exc.detail) from exc
    wake(services)
    return batch_json(batch)


@router.get("/workspace")
async def list_batch_calls(
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    last_doc: Annotated[str | None, Query(max_length=512)] = None,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    async with services.db.session() as session:
        try:
            page = await campaigns_repo.list_batches(
                session, cursor=last_doc, page_size=limit, agent_id=agent_id
            )
        except InvalidCursorError as exc:
            raise invalid_cursor() from exc
    return {
        "batch_calls": [batch_json(b) for b in page.items],
        "next_doc": page.next_cursor,
        "has_more": page.has_more,
    }


@router.get("/{batch_id}")
async def get_batch_call(batch_id: str, services: ServicesDep) -> dict[str, Any]:
    async with services.db.session() as session:
        batch = await campaigns_repo.get_batch(session, batch_id)
        if batch is None:
            raise NotFoundError("batch call", batch_id)
        recipients = await campaigns_repo.list_recipients(session, batch_id, with_attempts=True)
    return {**batch_json(batch), "recipients": [recipient_json(r) for r in recipients]}


@router.post("/{batch_id}/cancel")
async def cancel(batch_id: str, services: ServicesDep) -> dict[str, Any]:
    try:
        batch = await actions.cancel_campaign(services, batch_id)
    except actions.CampaignNotFoundError as exc:
        raise NotFoundError("batch call", batch_id) from exc
    return batch_json(batch)


@router.post("/{batch_id}/retry")
async def retry(batch_id: str, services: ServicesDep) -> dict[str, Any]:
    try:
        batch = await actions.retry_campaign(services, batch_id, clock_of(services))
    except actions.CampaignNotFoundError as exc:
        raise NotFoundError("batch call", batch_id) from exc
    except actions.CampaignStateError as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc
    wake(services)
    return batch_json(batch)


@router.delete("/{batch_id}")
async def delete(batch_id: str, services: ServicesDep) -> dict[str, Any]:
    if not await actions.delete_campaign(services, batch_id):
        raise NotFoundError("batch call", batch_id)
    return {}


@router.get("/{batch_id}/export")
async def export(
    batch_id: str, services: ServicesDep, limit: Annotated[int | None, Query(ge=1)] = None
) -> Response:
    try:
        body = await actions.export_csv(services, batch_id, limit)
    except actions.CampaignNotFoundError as exc:
        raise NotFoundError("batch call", batch_id) from exc
    return Response(
        content=body,
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{batch_id}.csv"'},
    )
