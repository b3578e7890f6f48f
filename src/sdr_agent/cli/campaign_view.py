"""Rendering a batch call for the terminal: progress, counts per status, and the outcome table."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Group
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

TERMINAL = ("completed", "failed", "cancelled", "voicemail")
_STYLE = {
    "completed": "green",
    "voicemail": "cyan",
    "failed": "red",
    "cancelled": "magenta",
    "pending": "white",
    "dispatched": "yellow",
    "initiated": "yellow",
    "in_progress": "bold yellow",
}


def finished(body: dict[str, Any]) -> bool:
    return body.get("status") in ("completed", "cancelled", "failed")


def _local(unix: int | None, zones: list[str]) -> str:
    if not unix:
        return ""
    when = datetime.fromtimestamp(unix, UTC)
    if len(zones) == 1:
        try:
            return f"{when.astimezone(ZoneInfo(zones[0])):%a %H:%M} local"
        except (ValueError, KeyError):
            pass
    return f"{when:%a %H:%M} UTC"


def progress_view(body: dict[str, Any]) -> Group:
    recipients = body.get("recipients") or []
    total = max(1, len(recipients))
    done = sum(r["status"] in TERMINAL for r in recipients)
    counts = Counter(r["status"] for r in recipients)
    header = Text.assemble(
        (f"{body.get('name', '')} ", "bold"),
        (f"[{body.get('status')}] ", _STYLE.get(str(body.get("status")), "white")),
        f"{done}/{len(recipients)} finished, {body.get('total_calls_dispatched', 0)} dialed, "
        f"retry round {body.get('retry_count', 0)}",
    )
    summary = Text("  ".join(f"{status}: {n}" for status, n in sorted(counts.items())))
    waiting = [r for r in recipients if r["status"] == "pending" and r.get("next_attempt_at_unix")]
    parts: list[Any] = [header, ProgressBar(total=total, completed=done, width=60), summary]
    if waiting:
        soonest = min(waiting, key=lambda r: r["next_attempt_at_unix"])
        parts.append(
            Text(
                f"{len(waiting)} waiting for calling hours; next {soonest['phone_number']} at "
                f"{_local(soonest['next_attempt_at_unix'], soonest.get('timezones') or [])}",
                style="dim",
            )
        )
    return Group(*parts)


def outcome_table(body: dict[str, Any]) -> Table:
    table = Table(title=f"batch call {body.get('id')}: {body.get('name')}", show_lines=False)
    for column in ("#", "number", "time zone", "status", "attempts", "outcomes", "detail / next dial"):
        # A phone number is never cut or wrapped on a narrow terminal: the other columns give way.
        number = column == "number"
        table.add_column(column, no_wrap=number, min_width=16 if number else None)
    for index, recipient in enumerate(body.get("recipients") or [], start=1):
        zones = recipient.get("timezones") or []
        outcomes = ", ".join(
            f"{a['outcome'] or 'open'}" + (f" ({a['answered_by']})" if a.get("answered_by") else "")
            for a in recipient.get("attempt_log") or []
        )
        detail = recipient.get("detail") or ""
        if recipient["status"] == "pending" and recipient.get("next_attempt_at_unix"):
            detail = f"dials {_local(recipient['next_attempt_at_unix'], zones)}"
        status = recipient["status"]
        table.add_row(
            str(index),
            recipient["phone_number"],
            zones[0] if len(zones) == 1 else f"{len(zones)} zones",
            Text(status, style=_STYLE.get(status, "white")),
            str(recipient.get("attempts", 0)),
            outcomes,
            detail,
        )
    return table
