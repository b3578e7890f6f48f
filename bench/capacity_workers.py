"""Capacity of ``sdr-agent serve --workers N`` on one machine: the stand-in ramp of ``capacity.py`` (same
caller, same pass rule: jitter p99 ≤ 20 ms, ≤ 0.1 % frames dropped, no call lost) against 1 and then 2 worker
processes.

Run: ``sdr-agent bench capacity --phases workers1,workers2`` (or ``python bench/capacity_workers.py``).
Several workers need PostgreSQL and a Chroma server (``cli/workers.py`` refuses the rest), so this starts a
throwaway PostgreSQL (``scripts/postgres-for-tests.sh``, which installs it from Debian when missing) and a
``chroma run`` server, both on loopback, for the whole run; both phases use them, so 1 and 2 workers differ
only in the worker count. The engines are the capacity bench's stand-ins with the VAD the settings choose
(Silero). Server CPU and memory are summed over the supervisor and its workers. The caller side (the Twilio
stand-in, this process) shares the same cores: on a 2-core machine two workers can at most about double.
Writes the ``workers`` phase of ``bench/results/capacity.json`` (one ramp per worker count and the curve; the
other phases stay as they were) and prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from bench.capacity import (
    LEVELS,
    caller_script,
    level_passed,
    measure_window,
    prepare_agent,
    ramp,
    server_settings,
    stop_server,
    wait_healthy,
)
from bench.common import (
    RESULTS_DIR,
    LoopLagProbe,
    free_port,
    load_average,
    machine_info,
    percentile,
    print_table,
)

from sdr_agent.sim.call_record import SimulatedCall
from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.local_stack import PUBLIC_BASE_URL
from sdr_agent.sim.twilio import TwilioStandIn

ROOT = Path(__file__).resolve().parents[1]
SERVER = Path(__file__).resolve().parent / "capacity_workers_server.py"
PHASES = {"workers1": 1, "workers2": 2}
WORKER_LEVELS = (5, *LEVELS["standin"])  # one step below the stand-in ramp: the machine may be busy


def tree_pids(pid: int) -> list[int]:
    """The process and all its descendants (the supervisor and its workers), from /proc."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += parents.get(current, [])
    return found


def tree_cpu_s(pid: int) -> float:
    total = 0.0
    for each in tree_pids(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def tree_rss_mb(pid: int) -> float:
    total = 0.0
    for each in tree_pids(pid):
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024.0
        except OSError:
            continue
    return total


async def measure_level(pid: int, calls: list[SimulatedCall], window_s: float, idle_rss: float,
                        probe: LoopLagProbe) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    lag_from = len(probe.samples)
    cpu0, own0, w0 = tree_cpu_s(pid), time.process_time(), loop.time()
    await asyncio.sleep(window_s)
    cpu1, own1, w1 = tree_cpu_s(pid), time.process_time(), loop.time()
    rss = tree_rss_mb(pid)
    cpu_pct = 100.0 * (cpu1 - cpu0) / (w1 - w0)
    level = len(calls)
    row = {
        "calls": level,
        **measure_window(calls, w0 * 1000.0, w1 * 1000.0),
        "calls_lost": sum(1 for call in calls if call.ended.is_set()),
        "server_cpu_pct_of_one_core": round(cpu_pct, 1),
        "cpu_pct_per_call": round(cpu_pct / level, 2),
        "server_rss_mb": round(rss, 1),
        "rss_mb_per_call": round((rss - idle_rss) / level, 2),
        "caller_side_cpu_pct_of_one_core": round(100.0 * (own1 - own0) / (w1 - w0), 1),
        "caller_side_loop_lag_ms_p99": percentile(probe.samples[lag_from:], 99),
        "load_avg_1m": load_average()[:1],
    }
    row["passed"] = level_passed(row)
    return row


async def run_phase(phase: str, levels: tuple[int, ...], settle_s: float, window_s: float,
                    script: CallerScript, database_url: str, chroma_url: str) -> dict[str, Any]:
    workers = PHASES[phase]
    api_key, sid, token = secrets.token_urlsafe(18), "AC" + secrets.token_hex(16), secrets.token_hex(16)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    results: list[dict[str, Any]] = []
    idle_rss = 0.0
    with tempfile.TemporaryDirectory(prefix=f"sdr-{phase}-") as tmp:
        root = Path(tmp)
        async with TwilioStandIn(sid, token, PUBLIC_BASE_URL, target_base_url=base_url) as twilio:
            values = server_settings(root, api_key, sid, token, twilio.api_base, "standin")
            values.update(database_url=database_url, chroma_url=chroma_url,
                          resilience={"shutdown_grace_s": 2.0})
            values["knowledge"] = {"collection": f"capacity_{phase}_{secrets.token_hex(3)}"}
            settings_file = root / "settings.json"
            settings_file.write_text(json.dumps(values))
            with (root / "server.log").open("w") as log:
                server = await asyncio.create_subprocess_exec(
                    sys.executable, str(SERVER), "--port", str(port), "--workers", str(workers),
                    "--settings", str(settings_file), stdout=log, stderr=log,
                )
            calls: list[SimulatedCall] = []
            probe = LoopLagProbe()
            probe.start()
            try:
                async with httpx.AsyncClient(base_url=base_url, headers={"xi-api-key": api_key},
                                             timeout=60.0, trust_env=False) as api:
                    try:
                        await wait_healthy(api, server, 240.0)
                    except (RuntimeError, TimeoutError):
                        print((root / "server.log").read_text()[-4000:], file=sys.stderr)
                        raise
                    await asyncio.sleep(3.0 * workers)  # /healthz answers once the first worker is up
                    await prepare_agent(api, sid, token)
                idle_rss = tree_rss_mb(server.pid)
                results += await ramp(phase, server.pid, twilio, script, levels, calls,
                                      settle_s, window_s, idle_rss, probe, measure=measure_level)
            finally:
                probe.stop()
                for call in calls:
                    if not call.ended.is_set() and call.end_request is None:
                        call.end_request = "bench-done"
                await asyncio.sleep(1.0)
                spawned = tree_pids(server.pid)[1:]
                await stop_server(server)
                # Workers a stopped supervisor left behind would hold the port and the CPU.
                for pid in spawned:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 9)
    held = max((row["calls"] for row in results if row["passed"]), default=0)
    at_held = next((row for row in results if row["calls"] == held), None)
    return {
        "engines": "standin",
        "workers": workers,
        "idle_rss_mb": round(idle_rss, 1),
        "calls_held": held,
        "top_level_tried": results[-1]["calls"] if results else None,
        "cpu_pct_per_call_at_held": at_held["cpu_pct_per_call"] if at_held else None,
        "rss_mb_per_call_at_held": at_held["rss_mb_per_call"] if at_held else None,
        "levels": results,
    }


def start_postgres() -> tuple[str, dict[str, str]]:
    # Beside, not inside, the run's private temporary folder: the server runs as the 'postgres' user.
    pg_dir = Path(tempfile.gettempdir()) / f"sdr-workers-pg-{secrets.token_hex(4)}"
    env = dict(os.environ, SDR_TEST_PG_DIR=str(pg_dir), SDR_TEST_PG_PORT=str(free_port()))
    url = subprocess.run(["bash", str(ROOT / "scripts/postgres-for-tests.sh"), "start"], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    return url, env


async def fresh_database(server_url: str, name: str) -> str:
    """An empty database of its own for each phase (same server): no agent, number or secret carries over."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    database = f"capacity_{name}_{secrets.token_hex(3)}"
    engine = create_async_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{database}"'))
    finally:
        await engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + database


async def start_chroma(root: Path) -> tuple[asyncio.subprocess.Process, str]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "chroma"), "run", "--path", str(root / "chroma"), "--host",
        "127.0.0.1", "--port", str(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(trust_env=False, timeout=1.0) as http:
        for _ in range(300):
            try:
                if (await http.get(url + "/api/v2/heartbeat")).status_code == 200:
                    return proc, url
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    proc.kill()
    raise TimeoutError("chroma did not start")


async def run(phases: list[str], settle_s: float, window_s: float,
              levels: tuple[int, ...] | None = None) -> dict[str, Any]:
    load_before = machine_info()["load_avg_1_5_15"]
    started = time.monotonic()
    script = await caller_script()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="sdr-workers-infra-") as tmp:
        root = Path(tmp)
        database_url, pg_env = start_postgres()
        chroma, chroma_url = await start_chroma(root)
        try:
            for phase in phases:
                results[phase] = await run_phase(phase, levels or WORKER_LEVELS, settle_s, window_s, script,
                                                 await fresh_database(database_url, phase), chroma_url)
        finally:
            chroma.terminate()
            await chroma.wait()
            subprocess.run(["bash", str(ROOT / "scripts/postgres-for-tests.sh"), "stop"], env=pg_env,
                           check=False, capture_output=True)
            shutil.rmtree(pg_env["SDR_TEST_PG_DIR"], ignore_errors=True)
    wall_s = round(time.monotonic() - started, 1)
    measured_at = datetime.now(UTC).isoformat(timespec="seconds")
    for numbers in results.values():
        numbers.update(measured_at=measured_at, load_avg_at_start=load_before, wall_s_of_run=wall_s)
    return {
        "phases": {"workers": summarize({str(PHASES[p]): numbers for p, numbers in results.items()})},
        "machine": machine_info(),
        "load_avg_at_start": load_before,
        "wall_s": wall_s,
        "settle_s": settle_s,
        "window_s": window_s,
    }


def summarize(ramps: dict[str, Any]) -> dict[str, Any]:
    """The ``workers`` phase: one ramp per worker count, and the curve across them."""
    held = {int(n): ramp["calls_held"] for n, ramp in sorted(ramps.items())}
    one, two = held.get(1), held.get(2)
    return {
        "engines": "standin (stand-in STT/TTS/LLM, the settings' VAD: Silero)",
        "server": "sdr-agent serve --workers N on a throwaway PostgreSQL and a `chroma run` server, loopback",
        "curve": [{"workers": n, "calls_held": calls} for n, calls in held.items()],
        "speedup_2_over_1": round(two / one, 2) if one and two else None,
        "ramps": ramps,
    }


def merge_result(report: dict[str, Any], path: Path = RESULTS_DIR / "capacity.json") -> None:
    """The ``workers`` phase goes into capacity.json beside the other phases (``capacity.py`` keeps it when
    it reruns its own); a run of one worker count keeps the other count's last ramp."""
    existing: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {"bench": "capacity"}
    phases = existing.setdefault("phases", {})
    earlier = phases.get("workers") if isinstance(phases.get("workers"), dict) else {}
    ramps = dict(earlier.get("ramps") or {}) | report["phases"]["workers"]["ramps"]
    phases["workers"] = summarize(ramps)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(existing, indent=2) + "\n")
    print(json.dumps(report, separators=(",", ":")))


def print_report(report: dict[str, Any]) -> None:
    summary = report["phases"]["workers"]
    for numbers in summary["ramps"].values():
        rows = [[str(r["calls"]), str(r["jitter_ms"]["p99"]), f"{r['dropped_frames']}/{r['frames_played']}",
                 str(r["server_cpu_pct_of_one_core"]), str(r["cpu_pct_per_call"]), str(r["rss_mb_per_call"]),
                 str(r["reply_latency_ms_p50"]), str(r["caller_side_cpu_pct_of_one_core"]),
                 "pass" if r["passed"] else "FAIL"] for r in numbers["levels"]]
        print_table(f"Capacity, {numbers['workers']} worker(s), stand-in engines: "
                    f"{numbers['calls_held']} calls held",
                    ["calls", "jitter p99 ms", "dropped", "server CPU %", "CPU %/call", "MB/call",
                     "reply p50 ms", "caller CPU %", "verdict"], rows)
    print(f"workers curve: {summary['curve']} (2 ÷ 1 = {summary['speedup_2_over_1']}); "
          f"wall {report['wall_s']} s; load avg at start {report['load_avg_at_start']}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--phases", default="workers1,workers2",
                        help="comma-separated: workers1, workers2 ('workers': both)")
    parser.add_argument("--settle", type=float, default=4.0, help="seconds after adding calls (default 4)")
    parser.add_argument("--window", type=float, default=12.0, help="seconds measured per level (default 12)")
    parser.add_argument("--levels", default=None, help="comma-separated call counts instead of the ramp "
                                                       "(a diagnosis run: capacity.json is left as it was)")
    args, _ = parser.parse_known_args(argv)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    if phases == ["workers"]:
        phases = list(PHASES)
    if not phases or any(p not in PHASES for p in phases):
        parser.error(f"--phases takes {', '.join(PHASES)}")
    if args.settle < 0 or args.window < 2:
        parser.error("--settle must be ≥ 0 and --window ≥ 2")
    levels = tuple(int(n) for n in args.levels.split(",")) if args.levels else None
    if levels is not None and any(n < 1 for n in levels):
        parser.error("--levels takes positive call counts")
    report = asyncio.run(run(phases, args.settle, args.window, levels))
    print_report(report)
    if levels is None:
        merge_result(report)
    else:
        print(json.dumps(report, separators=(",", ":")))
        print("--levels given: a diagnosis run, bench/results/capacity.json left as it was")


if __name__ == "__main__":
    main()
