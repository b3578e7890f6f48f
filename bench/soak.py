"""Load over time: N concurrent calls for M minutes, each call replaced as it ends so the load stays constant.

Run: ``sdr-agent bench soak`` (or ``.venv/bin/python bench/soak.py``). The server is the capacity bench's
(``bench/capacity_server.py``: the real app, one process, stand-in engines, Silero VAD on). ``--calls``
defaults to 80 % of the stand-in capacity in ``bench/results/capacity.json``. Each call asks questions for
``--call-seconds`` (±25 %, so calls end at different times) and hangs up; a new call takes its place at once.
Every ``--sample`` seconds the server's RSS and CPU are read, and the pacing of the agent audio the callers
heard is measured as in the capacity bench. At the end every call placed must have a stored conversation
(status done, with a transcript; both sides of it for a call that ran until the caller hung up), checked
through the REST API and matched on the Twilio call sid.

Reports: RSS after warm-up vs at the end (growth %, target < 5 %), calls lost (ended by anything but the
caller's own hang-up or the bench stopping), conversations stored, pacing jitter p99 / dropped frames /
reply p50 over the run, load average. Prints a summary and one JSON line; writes ``bench/results/soak.json``.
Not run in CI: 30 minutes by default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from bench.capacity import (
    JITTER_LIMIT_MS,
    SERVER,
    caller_script,
    measure_window,
    prepare_agent,
    server_settings,
    stop_server,
    wait_healthy,
)
from bench.capacity_measure import process_cpu_seconds, process_rss_mb
from bench.common import free_port, load_average, machine_info, percentile, write_result

from sdr_agent.sim.call_record import SimulatedCall, make_plan
from sdr_agent.sim.caller_script import CallerScript
from sdr_agent.sim.local_stack import AGENT_NUMBER, PUBLIC_BASE_URL
from sdr_agent.sim.twilio import TwilioStandIn

RESULTS = Path(__file__).resolve().parent / "results"
RSS_GROWTH_LIMIT_PCT = 5.0
NORMAL_ENDINGS = {"caller-hangup", "bench-done"}


def default_calls() -> int:
    """80 % of the stand-in capacity last measured (40 when there is no measurement)."""
    try:
        held = json.loads((RESULTS / "capacity.json").read_text())["phases"]["standin"]["calls_held"]
        return max(1, int(0.8 * int(held)))
    except (OSError, KeyError, TypeError, ValueError):
        return 40


class Soak:
    def __init__(self, twilio: TwilioStandIn, script: CallerScript, call_s: float) -> None:
        self.twilio = twilio
        self.script = script
        self.call_s = call_s
        self.live: list[SimulatedCall] = []
        self.placed: list[SimulatedCall] = []
        self.finished: list[SimulatedCall] = []
        self._serial = 0

    async def place(self) -> None:
        caller = f"+1555{8000000 + self._serial % 1000000:07d}"
        self._serial += 1
        plan = make_plan(self.script, hangup_at_s=self.call_s * random.uniform(0.75, 1.25),
                         max_call_s=3 * self.call_s)
        call = await self.twilio.start_inbound_call(AGENT_NUMBER, caller, plan=plan)
        self.live.append(call)
        self.placed.append(call)

    def collect_ended(self) -> int:
        ended = [call for call in self.live if call.ended.is_set()]
        for call in ended:
            self.live.remove(call)
            self.finished.append(call)
        return len(ended)


def cut_by_bench(call: SimulatedCall) -> bool:
    """Placed in the last seconds and stopped by the bench before its media stream connected: nothing to
    judge (no call was lost, no conversation is expected to hold a transcript)."""
    return call.end_request == "bench-done" and call.stream_started_ms is None


def lost(call: SimulatedCall) -> bool:
    if cut_by_bench(call):
        return False
    return call.ended_by not in NORMAL_ENDINGS or call.answered_ms is None or call.stream_error is not None


async def stored_conversations(api: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """Every stored conversation, by Twilio call sid (from its metadata)."""
    by_sid: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"page_size": 100}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/convai/conversations", params=params)).raise_for_status().json()
        for item in page["conversations"]:
            full = (await api.get(f"/v1/convai/conversations/{item['conversation_id']}")).raise_for_status()
            conversation = full.json()
            sid = (conversation.get("metadata") or {}).get("phone_call", {}).get("call_sid")
            if sid:
                by_sid[str(sid)] = conversation
        if not page.get("has_more"):
            return by_sid
        cursor = page["next_cursor"]


def call_detail(call: SimulatedCall, conversation: dict[str, Any] | None) -> dict[str, Any]:
    turns = (conversation or {}).get("transcript", [])
    return {
        "sid": call.sid, "ended_by": call.ended_by, "status": call.status,
        "stream_connected": call.stream_started_ms is not None, "duration_s": round(call.duration_s, 1),
        "caller_turns_spoken": len(call.turns), "stream_error": call.stream_error,
        "stored": conversation is not None,
        "stored_status": (conversation or {}).get("status"),
        "stored_turns": [str(turn.get("role")) for turn in turns],
        "termination_reason": (conversation or {}).get("metadata", {}).get("termination_reason"),
    }


def stored_ok(conversation: dict[str, Any] | None) -> bool:
    return conversation is not None and conversation.get("status") == "done" and bool(
        conversation.get("transcript"))


def both_sides(conversation: dict[str, Any] | None) -> bool:
    roles = {turn.get("role") for turn in (conversation or {}).get("transcript", []) if turn.get("message")}
    return {"user", "agent"} <= roles


async def run(
    calls: int, minutes: float, warmup_s: float, sample_s: float, call_s: float,
    server_log: Path | None = None,
) -> dict[str, Any]:
    load_before = load_average()
    started = time.monotonic()
    script = await caller_script()
    api_key, sid, token = secrets.token_urlsafe(18), "AC" + secrets.token_hex(16), secrets.token_hex(16)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    samples: list[dict[str, Any]] = []
    windows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sdr-soak-") as tmp:
        root = Path(tmp)
        async with TwilioStandIn(sid, token, PUBLIC_BASE_URL, target_base_url=base_url) as twilio:
            settings_file = root / "settings.json"
            values = server_settings(root, api_key, sid, token, twilio.api_base, "standin")
            # The closing check reads every stored conversation (one GET each, ~1,400 in 30 minutes): more
            # than the per-key limit allows in a minute, which is not what this bench measures.
            values["security"] = {"key_requests_per_window": 1_000_000}
            settings_file.write_text(json.dumps(values))
            with (root / "server.log").open("w") as log:
                server = await asyncio.create_subprocess_exec(
                    sys.executable, str(SERVER), "--port", str(port), "--engines", "standin",
                    "--settings", str(settings_file), stdout=log, stderr=log,
                )
            soak = Soak(twilio, script, call_s)
            try:
                async with httpx.AsyncClient(base_url=base_url, headers={"xi-api-key": api_key},
                                             timeout=60.0, trust_env=False) as api:
                    await wait_healthy(api, server, 180.0)
                    await prepare_agent(api, sid, token)
                    idle_rss = process_rss_mb(server.pid)
                    for _ in range(calls):
                        await soak.place()
                        await asyncio.sleep(0.15)
                    loop = asyncio.get_running_loop()
                    t0 = loop.time()
                    end_at = t0 + minutes * 60.0
                    cpu0, w0 = process_cpu_seconds(server.pid), loop.time()
                    while loop.time() < end_at:
                        await asyncio.sleep(min(sample_s, max(0.1, end_at - loop.time())))
                        for _ in range(soak.collect_ended()):
                            await soak.place()  # replaced at once: the load stays constant
                        cpu1, w1 = process_cpu_seconds(server.pid), loop.time()
                        window = measure_window(soak.live + soak.finished[-calls:], w0 * 1000.0, w1 * 1000.0)
                        windows.append(window)
                        samples.append({
                            "t_s": round(w1 - t0, 1),
                            "rss_mb": round(process_rss_mb(server.pid), 1),
                            "cpu_pct_of_one_core": round(100.0 * (cpu1 - cpu0) / (w1 - w0), 1),
                            "live_calls": len(soak.live),
                            "load_avg_1m": load_average()[0],
                        })
                        cpu0, w0 = cpu1, w1
                        print(f"  soak {samples[-1]['t_s']:7.1f} s: {len(soak.live)} calls, rss "
                              f"{samples[-1]['rss_mb']} MB, cpu {samples[-1]['cpu_pct_of_one_core']} %, "
                              f"jitter p99 {window['jitter_ms']['p99']} ms, placed {len(soak.placed)}",
                              file=sys.stderr, flush=True)
                    for call in soak.live:
                        if call.end_request is None:
                            call.end_request = "bench-done"
                    await asyncio.wait_for(asyncio.gather(*(c.ended.wait() for c in soak.live)), 60.0)
                    soak.collect_ended()
                    await asyncio.sleep(5.0)  # the last calls' conversations are written after their stop
                    stored = await stored_conversations(api)
            finally:
                await stop_server(server)
                if server_log is not None:
                    server_log.write_text((root / "server.log").read_text())
    answered = [call for call in soak.placed if call.answered_ms is not None and not cut_by_bench(call)]
    # Every call must be stored (status done, with what was said); a call that ran its course (the caller hung
    # up on their own) must hold both sides of the conversation. Calls the bench stopped early may end
    # before their first exchange.
    missing = [call.sid for call in answered if not stored_ok(stored.get(call.sid))
               or (call.ended_by == "caller-hangup" and not both_sides(stored.get(call.sid)))]
    return {
        "bench": "soak",
        "machine": machine_info(),
        "load_avg_at_start": load_before,
        "wall_s": round(time.monotonic() - started, 1),
        "calls": calls,
        "minutes": minutes,
        "call_seconds": call_s,
        "idle_rss_mb": round(idle_rss, 1),
        **rss_growth(samples, warmup_s),
        "calls_placed": len(soak.placed),
        "calls_cut_by_bench_before_connecting": sum(1 for call in soak.placed if cut_by_bench(call)),
        "calls_judged": len(answered),
        "calls_lost": sum(1 for call in soak.finished if lost(call)),
        "lost_reasons": sorted({str(call.ended_by) for call in soak.finished if lost(call)}),
        # What the server stored as the reason for the calls lost (the conversation's own account).
        "lost_termination_reasons": sorted({str((stored.get(call.sid) or {}).get("metadata", {})
                                                .get("termination_reason")) for call in soak.finished
                                            if lost(call)}),
        "conversations_stored_with_transcript": len(answered) - len(missing),
        "calls_ran_their_course": sum(1 for call in answered if call.ended_by == "caller-hangup"),
        "conversations_missing": missing[:20],
        # Why a call counts as lost or unstored: what the caller saw and what the server stored.
        "problem_calls": [call_detail(call, stored.get(call.sid)) for call in soak.placed
                          if lost(call) or call.sid in missing][:20],
        "jitter_p99_ms_median_window": percentile([w["jitter_ms"]["p99"] for w in windows
                                                   if w["jitter_ms"]["p99"] is not None], 50),
        "jitter_p99_ms_worst_window": max((w["jitter_ms"]["p99"] or 0.0 for w in windows), default=None),
        "windows_over_jitter_limit": sum(1 for w in windows
                                         if (w["jitter_ms"]["p99"] or 0) > JITTER_LIMIT_MS),
        "dropped_frames": sum(w["dropped_frames"] for w in windows),
        "frames_played": sum(w["frames_played"] for w in windows),
        "reply_latency_ms_p50_median_window": percentile([w["reply_latency_ms_p50"] for w in windows
                                                          if w["reply_latency_ms_p50"] is not None], 50),
        "load_avg_at_end": load_average(),
        "samples": samples,
    }


def rss_growth(samples: list[dict[str, Any]], warmup_s: float) -> dict[str, Any]:
    after = [s["rss_mb"] for s in samples if s["t_s"] >= warmup_s]
    if len(after) < 2:
        return {"rss_mb_after_warmup": None, "rss_mb_at_end": None, "rss_growth_pct": None,
                "warmup_s": warmup_s}
    # Median of the first and last few samples: one sample caught mid-allocation must not decide.
    k = max(1, min(3, len(after) // 3))
    first, last = statistics.median(after[:k]), statistics.median(after[-k:])
    return {"rss_mb_after_warmup": round(first, 1), "rss_mb_at_end": round(last, 1),
            "rss_growth_pct": round(100.0 * (last - first) / first, 2), "warmup_s": warmup_s,
            "rss_growth_target_pct": RSS_GROWTH_LIMIT_PCT}


def print_report(report: dict[str, Any]) -> None:
    growth = report["rss_growth_pct"]
    verdict = "n/a" if growth is None else ("PASS" if growth < RSS_GROWTH_LIMIT_PCT else "MISSED")
    print(f"Soak: {report['calls']} calls for {report['minutes']} min ({report['calls_placed']} placed), "
          f"load avg at start {report['load_avg_at_start']}, at end {report['load_avg_at_end']}")
    print(f"  RSS after warm-up ({report['warmup_s']:.0f} s) {report['rss_mb_after_warmup']} MB → end "
          f"{report['rss_mb_at_end']} MB: growth {growth} % "
          f"(target < {RSS_GROWTH_LIMIT_PCT:.0f} %: {verdict})")
    print(f"  calls lost {report['calls_lost']} {report['lost_reasons'] or ''}; conversations stored with a "
          f"transcript {report['conversations_stored_with_transcript']}/{report['calls_judged']}")
    print(f"  jitter p99 (median window) {report['jitter_p99_ms_median_window']} ms, worst window "
          f"{report['jitter_p99_ms_worst_window']} ms; dropped {report['dropped_frames']}/"
          f"{report['frames_played']}; reply p50 {report['reply_latency_ms_p50_median_window']} ms; "
          f"wall {report['wall_s']} s")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=None,
                        help="concurrent calls (default: 80 %% of the stand-in capacity in "
                             "bench/results/capacity.json)")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the load is held (default 30)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="seconds before the RSS baseline (default: 20 %% of the run, at most 300)")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples (default 5)")
    parser.add_argument("--call-seconds", type=float, default=60.0, help="mean call length (default 60)")
    parser.add_argument("--server-log", type=Path, default=None, help="write the server's stderr here")
    args = parser.parse_args(argv)
    calls = args.calls if args.calls is not None else default_calls()
    if calls < 1 or args.minutes <= 0 or args.sample < 1 or args.call_seconds < 10:
        parser.error("--calls ≥ 1, --minutes > 0, --sample ≥ 1, --call-seconds ≥ 10")
    warmup = args.warmup if args.warmup is not None else min(300.0, 0.2 * args.minutes * 60.0)
    report = asyncio.run(run(calls, args.minutes, warmup, args.sample, args.call_seconds, args.server_log))
    print_report(report)
    write_result("soak", report)


if __name__ == "__main__":
    main()
