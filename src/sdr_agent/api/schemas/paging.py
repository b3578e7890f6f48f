"""Query parameters shared by the list routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import HTTPException, Query

from sdr_agent.storage.repos.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

PageSizeQuery = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page (1-100)")]
CursorQuery = Annotated[str | None, Query(max_length=512, description="next_cursor from the previous page")]
DEFAULT_PAGE = DEFAULT_PAGE_SIZE


def invalid_cursor() -> HTTPException:
    """422 in the same shape as a validation error, pointing at the cursor."""
    return HTTPException(
        status_code=422,
        detail=[{"loc": ["query", "cursor"], "msg": "invalid cursor", "type": "value_error"}],
    )
