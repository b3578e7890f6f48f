"""How many calls one server process holds: ramp concurrent calls until agent audio stops being paced.

Run: ``sdr-agent bench capacity`` (or ``.venv/bin/python bench/capacity.py``). The server runs in its own
process (``bench/capacity_server.py``: uvicorn, one event loop), first with stand-in engines that only add
cloud-like delays (Silero VAD stays real), then with the embedded offline engines. The Twilio stand-in, in
this process, places inbound calls whose caller keeps asking questions (hibari-rendered speech) and answers
after the agent goes quiet. At each level it waits ``--settle`` seconds, then watches ``--window`` seconds:
agent frame pacing jitter p99 (see ``capacity_measure``), audible dropouts, server CPU (all threads, % of
one core) and memory. A level passes with jitter p99 ≤ 20 ms, dropped frames ≤ 0.1 % and no call lost; the
ramp stops at the first level that fails. This process's own event-loop lag is reported too: when it is
high the caller side, not the server, limits the measurement. Prints a table per phase, then one JSON
line, and writes ``bench/results/capacity.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from bench.capacity_measure import dropouts, pacing_jitter, process_cpu_seconds, process_rss_mb
from bench.common import (
    LoopLagProbe,
    free_port,
    load_average,
    machine_info,
    percentile,
    print_table,
    target_check,
    write_result,
)

from sdr_agent.demo.scenario import CallerLine, agent_body, knowledge_text, render_caller_script
from sdr_agent.engines.factory import build_tts
from sdr_agent.settings import TTSSettings
from sdr_agent.sim.call_record import SimulatedCall, make_plan
from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.local_stack import AGENT_NUMBER, PUBLIC_BASE_URL
from sdr_agent.sim.twilio import TwilioStandIn

SERVER = Path(__file__).resolve().parent / "capacity_server.py"
LEVELS = {
    # Silero is gated (engines/local/vad_gate.py): the ramp goes past the 50-call target to find the ceiling.
    "standin": (10, 20, 30, 40, 50, 60, 70, 80, 100, 120),
    "standin-fakevad": (10, 20, 30, 40, 50, 60, 80, 100),
    "offline": (1, 2, 3, 4, 6, 8, 10, 12, 16),
}
JITTER_LIMIT_MS = 20.0
DROPPED_LIMIT = 0.001
REPLY_LIMIT_MS = 1200.0
TARGET_STANDIN_CALLS = 50
QUESTIONS: tuple[CallerLine, ...] = (
    CallerLine("q1", "How much does the Team plan cost?", delay_ms=500),
    CallerLine("q2", "Is there a free trial?", delay_ms=500),
    CallerLine("q3", "Does it work with Salesforce?", delay_ms=500),
    CallerLine("q4", "Tell me more about onboarding.", delay_ms=500),
)
TURNS_PER_CALL = 60


async def caller_script() -> CallerScript:
    lines = (QUESTIONS * (TURNS_PER_CALL // len(QUESTIONS) + 1))[:TURNS_PER_CALL]
    rendered = await render_caller_script(build_tts(TTSSettings()), lines)
    return CallerScript(rendered.steps, end_timeout_s=120.0)


def server_settings(
    root: Path, api_key: str, sid: str, token: str, api_base: str, engines: str
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "api_keys": [api_key],
        "database_url": f"sqlite+aiosqlite:///{root / 'sdr_agent.db'}",
        "data_dir": str(root),
        "public_base_url": PUBLIC_BASE_URL,
        "twilio_account_sid": sid,
        "twilio_auth_token": token,
        "twilio_from_number": AGENT_NUMBER,
        "twilio_api_base": api_base,
        "log_json": False,
        "log_level": "WARNING",
    }
    if engines.startswith("standin"):
        # Cheap placeholders at start-up; the server swaps in the delayed stand-ins.
        for kind in ("stt", "tts", "llm"):
            values[kind] = {"provider": "fake", "fallback": "none"}
    return values


async def wait_healthy(api: httpx.AsyncClient, process: asyncio.subprocess.Process, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise RuntimeError(f"the server exited during start-up (code {process.returncode})")
        try:
            if (await api.get("/healthz")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.3)
    raise TimeoutError("the server did not come up")


async def prepare_agent(api: httpx.AsyncClient, sid: str, token: str) -> None:
    document = await api.post("/v1/convai/knowledge-base/text",
                              json={"name": "Acme Cloud fact sheet", "text": knowledge_text()})
    document.raise_for_status()
    body = agent_body(str(document.json()["id"]))
    body["conversation_config"]["conversation"]["max_duration_seconds"] = 3600
    body["conversation_config"]["turn"]["turn_timeout"] = 60
    # A filler ("Sure.") followed by an answer that comes ~150 ms after it ends leaves a deliberate short
    # pause the dropout count cannot tell from an underrun; pacing is what this bench measures.
    body["conversation_config"]["turn"]["fillers"] = []
    agent = await api.post("/v1/convai/agents/create", json=body)
    agent.raise_for_status()
    number = await api.post("/v1/convai/phone-numbers", json={
        "provider": "twilio", "phone_number": AGENT_NUMBER, "label": "capacity line",
        "agent_id": agent.json()["agent_id"], "sid": sid, "token": token,
    })
    number.raise_for_status()


def measure_window(calls: list[SimulatedCall], w0_ms: float, w1_ms: float) -> dict[str, Any]:
    """Jitter, dropouts and reply latency of every call inside [w0, w1] (loop clock, ms); forgets what the
    stand-in recorded before w1 so memory stays flat over a long ramp."""
    jitter: list[float] = []
    holes = missing = played = 0
    replies: list[float] = []
    for call in calls:
        base = call.created_monotonic * 1000.0
        arrivals = [
            base + e.t_ms for e in call.events if e.event == "media" and w0_ms <= base + e.t_ms <= w1_ms
        ]
        heard = [base + f.t_ms for f in call.heard_frames if w0_ms <= base + f.t_ms <= w1_ms]
        jitter += pacing_jitter(arrivals)
        call_holes, call_missing = dropouts(heard)
        holes, missing, played = holes + call_holes, missing + call_missing, played + len(heard)
        for turn in call.turns:
            ended = turn.ended_ms
            if ended is not None and w0_ms <= base + ended <= w1_ms and turn.response_latency_ms is not None:
                replies.append(turn.response_latency_ms)
        call.events.clear()
        call.heard_frames.clear()
    return {
        "jitter_ms": {"p50": percentile(jitter, 50), "p99": percentile(jitter, 99),
                      "max": round(max(jitter), 1) if jitter else None, "n": len(jitter)},
        "dropouts": holes,
        "dropped_frames": missing,
        "frames_played": played,
        "reply_latency_ms_p50": percentile(replies, 50),
        "replies": len(replies),
    }


async def ramp(
    label: str, server_pid: int, twilio: TwilioStandIn, script: CallerScript, levels: tuple[int, ...],
    calls: list[SimulatedCall], settle_s: float, window_s: float, idle_rss: float, probe: LoopLagProbe,
    measure: Callable[..., Awaitable[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """Add inbound calls level by level and measure each (``measure``: how one level is measured, by
    default one server process); stops after the first level that fails."""
    measure = measure or measure_level
    results: list[dict[str, Any]] = []
    for level in levels:
        while len(calls) < level:
            caller = f"+1555{7000000 + len(calls):07d}"
            plan = make_plan(script, max_call_s=3600.0)
            calls.append(await twilio.start_inbound_call(AGENT_NUMBER, caller, plan=plan))
            await asyncio.sleep(0.15)
        await asyncio.sleep(settle_s)
        row = await measure(server_pid, calls, window_s, idle_rss, probe)
        if not row["passed"]:
            # The machine is shared: one stall from another process must not end the ramp.
            retry = await measure(server_pid, calls, window_s, idle_rss, probe)
            row = retry | {"first_window_failed": row}
        results.append(row)
        print(f"  {label}: {level} calls, jitter p99 {row['jitter_ms']['p99']} ms, dropped "
              f"{row['dropped_frames']}/{row['frames_played']}, "
              f"cpu {row['server_cpu_pct_of_one_core']} %, lost {row['calls_lost']}: "
              f"{'pass' if row['passed'] else 'FAIL'}", file=sys.stderr, flush=True)
        if not row["passed"]:
            break
    return results


async def run_phase(
    engines: str, levels: tuple[int, ...], settle_s: float, window_s: float, script: CallerScript,
    server_args: tuple[str, ...] = (), server_log: Path | None = None,
) -> dict[str, Any]:
    api_key, sid, token = secrets.token_urlsafe(18), "AC" + secrets.token_hex(16), secrets.token_hex(16)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    idle_rss = 0.0
    with tempfile.TemporaryDirectory(prefix="sdr-capacity-") as tmp:
        root = Path(tmp)
        async with TwilioStandIn(sid, token, PUBLIC_BASE_URL, target_base_url=base_url) as twilio:
            settings_file = root / "settings.json"
            settings_file.write_text(json.dumps(server_settings(root, api_key, sid, token, twilio.api_base,
                                                                engines)))
            with (root / "server.log").open("w") as log:
                server = await asyncio.create_subprocess_exec(
                    sys.executable, str(SERVER), "--port", str(port), "--engines", engines,
                    "--settings", str(settings_file), *server_args, stdout=log, stderr=log,
                )
            calls: list[SimulatedCall] = []
            probe = LoopLagProbe()
            probe.start()
            try:
                async with httpx.AsyncClient(base_url=base_url, headers={"xi-api-key": api_key},
                                             timeout=60.0, trust_env=False) as api:
                    await wait_healthy(api, server, 180.0)
                    await prepare_agent(api, sid, token)
                idle_rss = process_rss_mb(server.pid)
                results += await ramp(engines, server.pid, twilio, script, levels, calls,
                                      settle_s, window_s, idle_rss, probe)
            finally:
                probe.stop()
                for call in calls:
                    if not call.ended.is_set() and call.end_request is None:
                        call.end_request = "bench-done"
                await asyncio.sleep(1.0)
                await stop_server(server)
                if server_log is not None:
                    with server_log.open("a") as kept:
                        kept.write(f"===== {engines}\n" + (root / "server.log").read_text())
    held = max((row["calls"] for row in results if row["passed"]), default=0)
    at_held = next((row for row in results if row["calls"] == held), None)
    responsive = 0
    for row in results:
        if not row["passed"] or (row["reply_latency_ms_p50"] or 0) > REPLY_LIMIT_MS:
            break
        responsive = row["calls"]
    return {
        "engines": engines,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "idle_rss_mb": round(idle_rss, 1),
        "calls_held": held,
        "top_level_tried": results[-1]["calls"] if results else None,
        # Pacing can hold while replies crawl (offline STT queues up): the level that also answers in time.
        "calls_held_with_reply_p50_under_1200_ms": responsive,
        "cpu_pct_per_call_at_held": at_held["cpu_pct_per_call"] if at_held else None,
        "rss_mb_per_call_at_held": at_held["rss_mb_per_call"] if at_held else None,
        "levels": results,
    }


async def measure_level(
    pid: int, calls: list[SimulatedCall], window_s: float, idle_rss: float, probe: LoopLagProbe
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    lag_from = len(probe.samples)
    cpu0, own0, w0 = process_cpu_seconds(pid), time.process_time(), loop.time()
    await asyncio.sleep(window_s)
    cpu1, own1, w1 = process_cpu_seconds(pid), time.process_time(), loop.time()
    rss = process_rss_mb(pid)
    window = measure_window(calls, w0 * 1000.0, w1 * 1000.0)
    cpu_pct = 100.0 * (cpu1 - cpu0) / (w1 - w0)
    level = len(calls)
    row = {
        "calls": level,
        **window,
        "calls_lost": sum(1 for call in calls if call.ended.is_set()),
        "server_cpu_pct_of_one_core": round(cpu_pct, 1),
        "cpu_pct_per_call": round(cpu_pct / level, 2),
        "server_rss_mb": round(rss, 1),
        "rss_mb_per_call": round((rss - idle_rss) / level, 2),
        "caller_side_cpu_pct_of_one_core": round(100.0 * (own1 - own0) / (w1 - w0), 1),
        "caller_side_loop_lag_ms_p99": percentile(probe.samples[lag_from:], 99),
        "load_avg_1m": load_average()[:1],
        "load_avg_1_5_15": load_average(),  # the machine is shared: judge a level with its load beside it
    }
    row["passed"] = level_passed(row)
    return row


def level_passed(row: dict[str, Any]) -> bool:
    jitter = row["jitter_ms"]["p99"]
    played = row["frames_played"]
    return (
        jitter is not None and jitter <= JITTER_LIMIT_MS
        and played > 0 and row["dropped_frames"] <= DROPPED_LIMIT * played
        and row["calls_lost"] == 0
    )


async def stop_server(server: asyncio.subprocess.Process) -> None:
    if server.returncode is not None:
        return
    server.send_signal(signal.SIGINT)  # graceful: uvicorn finishes the calls and runs the shutdown hooks
    try:
        await asyncio.wait_for(server.wait(), 60.0)
    except TimeoutError:
        server.kill()
        await server.wait()


async def run(
    phases: list[str], settle_s: float, window_s: float, server_args: tuple[str, ...] = (),
    server_log: Path | None = None, levels: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    load_before = machine_info()["load_avg_1_5_15"]
    started = time.monotonic()
    script = await caller_script()
    results = {}
    for phase in phases:
        if phase == "offline":
            # Replies against p50/p95 targets, callers in voices not the agent's: bench/capacity_offline.py
            # (#15.2). Imported here: that module imports this one.
            from bench.capacity_offline import LEVELS as OFFLINE_LEVELS
            from bench.capacity_offline import run_offline_phase

            results[phase] = await run_offline_phase(settle_s, window_s, server_args, server_log,
                                                     levels or OFFLINE_LEVELS)
            continue
        results[phase] = await run_phase(phase, levels or LEVELS[phase], settle_s, window_s, script,
                                         server_args, server_log)
    standin = results.get("standin", {}).get("calls_held")
    return {
        "bench": "capacity",
        "machine": machine_info(),
        "load_avg_at_start": load_before,
        "wall_s": round(time.monotonic() - started, 1),
        "pass_rule": f"jitter p99 ≤ {JITTER_LIMIT_MS:.0f} ms, dropped frames ≤ {100 * DROPPED_LIMIT:.1f} %, "
                     "no call lost",
        "settle_s": settle_s,
        "window_s": window_s,
        "phases": results,
        "targets": {
            "standin_calls_held": {"target": TARGET_STANDIN_CALLS, "measured": standin,
                                   "verdict": target_check(standin, TARGET_STANDIN_CALLS, at_least=True)},
        },
    }


def print_report(report: dict[str, Any]) -> None:
    for phase, numbers in report["phases"].items():
        rows = [
            [str(row["calls"]), str(row["jitter_ms"]["p99"]),
             f"{row['dropped_frames']}/{row['frames_played']}", str(row["server_cpu_pct_of_one_core"]),
             str(row["cpu_pct_per_call"]), str(row["rss_mb_per_call"]), str(row["reply_latency_ms_p50"]),
             str(row["caller_side_cpu_pct_of_one_core"]), str(row["caller_side_loop_lag_ms_p99"]),
             str((row.get("load_avg_1m") or [None])[0]), "pass" if row["passed"] else "FAIL"]
            for row in numbers["levels"]
        ]
        print_table(
            f"Capacity, {phase} engines: {numbers['calls_held']} calls held (top level tried "
            f"{numbers['top_level_tried']}; replies p50 ≤ 1.2 s up to "
            f"{numbers['calls_held_with_reply_p50_under_1200_ms']}; load avg at start "
            f"{report['load_avg_at_start']})",
            ["calls", "jitter p99 ms", "dropped", "server CPU %", "CPU %/call", "MB/call", "reply p50 ms",
             "caller CPU %", "caller lag p99 ms", "load 1m", "verdict"],
            rows,
        )
    target = report["targets"]["standin_calls_held"]
    print(f"target: ≥ {target['target']} calls with stand-in engines: {target['measured']} "
          f"({target['verdict']}); pass rule: {report['pass_rule']}; wall {report['wall_s']} s")


def keep_other_phases(report: dict[str, Any]) -> dict[str, Any]:
    """Phases this run did not measure keep their last numbers in capacity.json (each phase says when it was
    measured), so ``--phases standin`` does not erase the offline or worker results."""
    try:
        earlier = json.loads((Path(__file__).resolve().parent / "results" / "capacity.json").read_text())
    except (OSError, ValueError):
        return report
    phases = dict(report["phases"])
    for name, numbers in (earlier.get("phases") or {}).items():
        if name not in phases and isinstance(numbers, dict):
            phases[name] = numbers | {"carried_over": True}
    return report | {"phases": phases}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phases", default="standin,standin-fakevad,offline",
                        help="comma-separated: standin, standin-fakevad, offline (default: all three); "
                             "or workers1,workers2 (serve --workers N, bench/capacity_workers.py)")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after adding calls (default 4)")
    parser.add_argument("--window", type=float, default=12.0, help="seconds measured per level (default 12)")
    parser.add_argument("--levels", default=None,
                        help="comma-separated call counts to step through instead of each phase's ramp "
                             "(e.g. 35 to hold one level for profiling)")
    parser.add_argument("--server-log", type=Path, default=None, help="append the server's stderr here")
    parser.add_argument("--server-arg", action="append", default=[],
                        help="extra capacity_server.py flag for diagnosis, e.g. --server-arg=--gc-log")
    args = parser.parse_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if phases and all(p.startswith("workers") for p in phases):
        from bench.capacity_workers import main as workers_main  # serve --workers N: 1 vs 2 workers

        workers_main(argv)
        return
    if not phases or any(p not in LEVELS for p in phases):
        parser.error(f"--phases takes {', '.join(LEVELS)}")
    if args.settle < 0 or args.window < 2:
        parser.error("--settle must be ≥ 0 and --window ≥ 2")
    levels = tuple(int(n) for n in args.levels.split(",")) if args.levels else None
    if levels is not None and any(n < 1 for n in levels):
        parser.error("--levels takes positive call counts")
    report = asyncio.run(run(phases, args.settle, args.window, tuple(args.server_arg), args.server_log,
                             levels))
    print_report(report)
    if levels is None:
        write_result("capacity", keep_other_phases(report))
    else:
        print("--levels given: a diagnosis run, bench/results/capacity.json left as it was")


if __name__ == "__main__":
    main()
