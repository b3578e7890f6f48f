"""The do-not-call list: ``/v1/convai/suppression-list`` (our own API; same auth and error shapes)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from pydantic import BaseModel, Field

from sdr_agent.api.deps import ServicesDep, require_api_key
from sdr_agent.api.errors import NotFoundError
from sdr_agent.api.schemas.paging import DEFAULT_PAGE, CursorQuery, PageSizeQuery, invalid_cursor
from sdr_agent.campaigns.numbers import InvalidNumberError, to_e164
from sdr_agent.storage.repos import suppression as suppression_repo
from sdr_agent.storage.repos.pagination import InvalidCursorError
from sdr_agent.storage.repos.suppression import SuppressedNumber

router = APIRouter(
    prefix="/v1/convai/suppression-list", tags=["suppression-list"], dependencies=[Depends(require_api_key)]
)
MAX_IMPORT_ROWS = 100_000


class SuppressBody(BaseModel):
    phone_number: str = Field(min_length=1, max_length=64)
    reason: str = Field(default="", max_length=1000)


def entry_json(entry: SuppressedNumber) -> dict[str, Any]:
    return {
        "phone_number": entry.phone_number,
        "reason": entry.reason,
        "source": entry.source,
        "created_at": entry.created_at.isoformat(),
    }


def _e164(raw: str, where: str = "phone_number") -> str:
    try:
        return to_e164(raw)
    except InvalidNumberError as exc:
        raise HTTPException(status_code=422, detail=f"{where}: {exc}") from exc


@router.post("", status_code=201, responses={200: {"description": "Already listed: the original entry"}})
async def add(body: SuppressBody, services: ServicesDep, response: Response) -> dict[str, Any]:
    number = _e164(body.phone_number)
    async with services.db.session() as session:
        entry, created = await suppression_repo.add_number(session, number, body.reason, "api")
    if not created:
        response.status_code = 200  # already listed: the original entry stands
    return entry_json(entry)


@router.get("")
async def list_numbers(
    services: ServicesDep, cursor: CursorQuery = None, page_size: PageSizeQuery = DEFAULT_PAGE
) -> dict[str, Any]:
    async with services.db.session() as session:
        try:
            page = await suppression_repo.list_numbers(session, cursor, page_size)
        except InvalidCursorError as exc:
            raise invalid_cursor() from exc
    return {
        "numbers": [entry_json(n) for n in page.items],
        "next_cursor": page.next_cursor,
        "has_more": page.has_more,
    }


@router.get("/{phone_number}")
async def get(phone_number: str, services: ServicesDep) -> dict[str, Any]:
    number = _e164(phone_number)
    async with services.db.session() as session:
        entry = await suppression_repo.get_number(session, number)
    if entry is None:
        raise NotFoundError("suppressed number", number)
    return entry_json(entry)


@router.delete("/{phone_number}")
async def remove(phone_number: str, services: ServicesDep) -> dict[str, Any]:
    number = _e164(phone_number)
    async with services.db.session() as session:
        if not await suppression_repo.delete_number(session, number):
            raise NotFoundError("suppressed number", number)
    return {}


@router.post("/import")
async def import_csv(request: Request, services: ServicesDep) -> dict[str, Any]:
    """A CSV (text/csv body or a multipart ``file``) with a ``phone_number`` column and optional ``reason``.

    Every row is checked first; one bad row → 422 naming it, and nothing is added.
    """
    rows = parse_import(await _csv_text(request))
    added = 0
    async with services.db.session() as session:
        for number, reason in rows:
            _, created = await suppression_repo.add_number(session, number, reason, "import")
            added += created
    return {"imported": added, "already_listed": len(rows) - added, "total": len(rows)}


async def _csv_text(request: Request) -> str:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(status_code=422, detail="file: a CSV file is required")
        raw = await upload.read()
    else:
        raw = await request.body()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HTTPException(status_code=422, detail="the CSV is not UTF-8 text") from exc


def parse_import(text: str) -> list[tuple[str, str]]:
    """[(E.164, reason)]; raises HTTPException(422) naming the first bad row."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in reader.fieldnames or []]
    if "phone_number" not in fields:
        raise HTTPException(status_code=422, detail="the CSV needs a phone_number column")
    rows: dict[str, str] = {}
    for index, row in enumerate(reader, start=2):
        if index > MAX_IMPORT_ROWS + 1:
            raise HTTPException(status_code=413, detail=f"at most {MAX_IMPORT_ROWS} rows per import")
        values = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        number = _e164(values.get("phone_number", ""), f"row {index}")
        rows.setdefault(number, values.get("reason", ""))
    return list(rows.items())
