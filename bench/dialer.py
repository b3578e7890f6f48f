"""Dialer overhead: 1,000 recipients through the Twilio stand-in, where every call ends at once (busy).

Measures how fast the dialer gets through a list when calls cost nothing: recipients dispatched per second,
seconds until every recipient is terminal, and database statements per dial — those the dialer itself runs
(claim, attempt, conversation, reconcile) and those the whole server runs (plus status callbacks).
Run: ``python bench/dialer.py [--recipients 1000] [--concurrency 100]``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from common import ensure_import_paths, machine_info, print_table, write_result

ensure_import_paths()

from datetime import UTC, datetime  # noqa: E402

from sqlalchemy import event  # noqa: E402

from sdr_agent.campaigns.clock import FakeClock  # noqa: E402
from sdr_agent.sim.local_stack import local_stack  # noqa: E402

OVERRIDES: dict[str, Any] = {
    "stt": {"provider": "fake", "fallback": "none"},
    "tts": {"provider": "fake", "fallback": "none"},
    "llm": {"provider": "fake", "fallback": "none"},
    "vad": {"provider": "fake"},
    "analysis": {"method": "rules"},
    "log_level": "WARNING",
}


ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class StatementCounter:
    """SQL statements sent by the server's engine, split by the asyncio task that sent them."""

    def __init__(self) -> None:
        self.total = 0
        self.dialer = 0

    def __call__(self, *_: Any) -> None:
        self.total += 1
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith("campaign-"):
            self.dialer += 1


async def run(recipients: int, concurrency: int, database_url: str | None) -> dict[str, Any]:
    overrides = {
        **OVERRIDES,
        **({"database_url": database_url} if database_url else {}),
        "max_concurrent_calls": concurrency * 2,
        "campaigns": {"tick_interval_s": 0.05, "claim_batch_size": 20, "default_concurrency": concurrency},
    }
    async with local_stack(settings_overrides=overrides) as stack:
        stack.twilio.set_script(None, outcome="busy", ring_ms=0)
        agent = await stack.create_agent(
            {"name": "Bench", "conversation_config": {"agent": {"first_message": "Hi"}}}
        )
        counter = StatementCounter()
        engine = stack.app.state.services.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", counter)
        numbers = [f"+1212555{i:04d}" for i in range(recipients)]
        body = {
            "call_name": "bench",
            "agent_id": agent,
            "recipients": [{"phone_number": n} for n in numbers],
            "timezone": "Etc/GMT",
            "calling_window": {"start": "08:00", "end": "21:00", "days": ALL_DAYS},
            "target_concurrency_limit": concurrency,
            "retry_policy": {"max_attempts": 1, "min_delay_secs": 0},
        }
        # The bench runs at any hour: pin the dialer's clock to mid-day UTC on a Wednesday.
        stack.app.state.services.campaign_clock = FakeClock(datetime(2026, 6, 10, 12, 0, tzinfo=UTC))
        started = time.perf_counter()
        response = await stack.api.post("/v1/convai/batch-calling/submit", json=body, timeout=120)
        response.raise_for_status()
        submitted = time.perf_counter()
        batch_id = response.json()["id"]
        counter.total = counter.dialer = 0
        all_dispatched = None
        while True:
            await asyncio.sleep(0.1)
            dials = sum(stack.twilio.dials().values())
            if all_dispatched is None and dials >= recipients:
                all_dispatched = time.perf_counter()
            # The list route carries the totals without the 1,000 recipient rows.
            listed = (
                await stack.api.get(f"/v1/convai/batch-calling/workspace?limit=1&agent_id={agent}")
            ).json()
            status = listed["batch_calls"][0]
            assert status["id"] == batch_id
            if status["status"] == "completed":
                break
            if time.perf_counter() - started > 600:
                raise TimeoutError("campaign did not finish")
        finished = time.perf_counter()
        event.remove(engine, "before_cursor_execute", counter)
        dials = sum(stack.twilio.dials().values())
        once = all(v == 1 for v in stack.twilio.dials().values())
    dispatch_s = (all_dispatched or finished) - submitted
    return {
        "benchmark": "dialer",
        "recipients": recipients,
        "target_concurrency_limit": concurrency,
        "calls_placed": dials,
        "each_number_dialed_once": once,
        "submit_s": round(submitted - started, 3),
        "dispatch_s": round(dispatch_s, 2),
        "dispatch_rate_per_s": round(dials / dispatch_s, 1) if dispatch_s > 0 else None,
        "all_terminal_s": round(finished - submitted, 2),
        "db_statements_per_dial_dialer": round(counter.dialer / max(1, dials), 2),
        "db_statements_per_dial_server": round(counter.total / max(1, dials), 2),
        "database": "postgresql" if database_url and database_url.startswith("postgresql") else "sqlite",
        "note": "whole-server count adds status callbacks and this bench polling the batch list (10/s)",
        "machine": machine_info(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="e.g. a PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()
    report = asyncio.run(run(args.recipients, args.concurrency, args.database_url))
    print_table(
        "dialer overhead",
        ["measure", "value"],
        [
            ["recipients", str(report["recipients"])],
            ["dispatch rate", f"{report['dispatch_rate_per_s']} dials/s"],
            ["all terminal after", f"{report['all_terminal_s']} s"],
            ["DB statements per dial (dialer)", str(report["db_statements_per_dial_dialer"])],
            ["DB statements per dial (whole server)", str(report["db_statements_per_dial_server"])],
            ["each number dialed once", str(report["each_number_dialed_once"])],
        ],
    )
    write_result(f"dialer_{report['database']}", report)


if __name__ == "__main__":
    main()
