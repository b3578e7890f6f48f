"""CPU per call of the per-frame audio path, measured in CPU time so a busy machine does not change it much.

Run: ``.venv/bin/python bench/capacity_frame_cost.py [--src OTHER_CHECKOUT/src]`` (about 20 s). One call's
inbound and outbound frames go through what the server does with them, in one thread, as fast as it can:
the Twilio JSON message is parsed (base64), μ-law decoded, the echo guard run against the agent audio
playing, Silero scores the frame (``--vad silero|silero-ungated|energy``), RMS taken; each agent frame is
formatted as a media message and decoded for the echo reference. The caller pattern is the capacity bench's:
a 2 s question, ~1 s until the reply, a 6 s reply, 0.5 s of quiet. ``--src`` measures another checkout's
modules (e.g. the commit before a change) in the same conditions. Prints µs per 20 ms frame and % of one
core per call, then one JSON line (``--out`` writes it to a file too).

This is the part of a call's cost that scales with frames; the capacity bench measures everything else too
(WebSocket, event loop, storage, dialogue).
"""

from __future__ import annotations

import argparse
import base64
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FRAME = 160
CYCLE_S = (2.0, 1.0, 6.0, 0.5)  # caller speaks, waits for the reply, agent speaks, quiet


def signal_frames(seconds: float, rms_level: float, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(seconds * 50)
    t = np.arange(n * FRAME) / 8000.0
    # A voiced-ish signal: harmonics of a wandering pitch, amplitude-modulated at a syllable rate.
    pitch = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / 8000.0
    voice = sum(np.sin(k * phase) / k for k in range(1, 8)) * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))
    voice += rng.normal(0, 0.05, len(t))
    pcm = np.clip(voice / np.sqrt(np.mean(voice**2)) * rms_level, -32768, 32767).astype(np.int16)
    return [pcm[i * FRAME : (i + 1) * FRAME] for i in range(n)]


def measure(vad_kind: str, seconds: float) -> dict[str, Any]:
    mulaw = importlib.import_module("sdr_agent.audio.mulaw")
    resample = importlib.import_module("sdr_agent.audio.resample")
    serializer = importlib.import_module("sdr_agent.telephony.twilio.serializer")
    echo_mod = importlib.import_module("sdr_agent.voice.echo")
    if vad_kind == "energy":
        vad: Any = importlib.import_module("sdr_agent.engines.fakes").FakeVAD()
    else:
        vad_mod = importlib.import_module("sdr_agent.engines.local.vad")
        try:
            vad = vad_mod.SileroVAD(8000, gate_rms=0) if vad_kind == "silero-ungated" else vad_mod.SileroVAD()
        except TypeError:  # a checkout from before the gate: Silero on every window
            vad = vad_mod.SileroVAD()
    speak, wait, reply, quiet = CYCLE_S
    caller = signal_frames(speak, 2000.0, 1)
    agent = signal_frames(reply, 3000.0, 2)
    silent = np.zeros(FRAME, dtype=np.int16)
    cycle: list[tuple[np.ndarray, np.ndarray | None]] = (
        [(frame, None) for frame in caller]
        + [(silent, None)] * int(wait * 50)
        + [(silent, frame) for frame in agent]
        + [(silent, None)] * int(quiet * 50)
    )
    inbound = [
        (json.dumps({"event": "media", "streamSid": "MZ" + "0" * 32, "media": {
            "track": "inbound", "chunk": str(i), "timestamp": str(i * 20),
            "payload": base64.b64encode(mulaw.pcm_to_ulaw(caller_pcm)).decode()}}),
         None if agent_pcm is None else mulaw.pcm_to_ulaw(agent_pcm))
        for i, (caller_pcm, agent_pcm) in enumerate(cycle)
    ]
    echo = echo_mod.EchoCanceller()
    frames = int(seconds * 50)
    clock = 1000.0
    started = time.process_time()
    for index in range(frames):
        text, agent_ulaw = inbound[index % len(inbound)]
        clock += 0.02
        if agent_ulaw is not None:  # the server sends one agent frame per tick while it speaks
            serializer.media_message("MZ" + "0" * 32, agent_ulaw)
            echo.add_reference(mulaw.ulaw_to_pcm(agent_ulaw), clock + 0.06)
        event = serializer.parse_message(text)
        pcm = mulaw.ulaw_to_pcm(event.payload)
        residual = echo.process(pcm, clock)
        vad.speech_probability(residual)
        resample.rms(residual)
    cpu = time.process_time() - started
    return {
        "vad": vad_kind,
        "frames": frames,
        "us_per_frame": round(1e6 * cpu / frames, 1),
        "cpu_pct_of_one_core_per_call": round(100.0 * cpu / (frames * 0.02), 3),
        "silero_windows_per_frame": round(getattr(vad, "windows_run", -1) / frames, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", type=Path, default=Path(__file__).resolve().parents[1] / "src")
    parser.add_argument("--vad", default="silero,silero-ungated,energy")
    parser.add_argument("--seconds", type=float, default=120.0, help="simulated call seconds per VAD")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(args.src.resolve()))
    rows = [measure(kind.strip(), args.seconds) for kind in args.vad.split(",") if kind.strip()]
    for row in rows:
        print(f"{args.src}: vad {row['vad']:15s} {row['us_per_frame']:7.1f} µs/frame  "
              f"{row['cpu_pct_of_one_core_per_call']:.3f} % of a core per call  "
              f"(Silero windows/frame {row['silero_windows_per_frame']})")
    report = {"bench": "capacity_frame_cost", "src": str(args.src), "load_avg": list(os.getloadavg()),
              "cycle_s": CYCLE_S, "rows": rows}
    print(json.dumps(report, separators=(",", ":")))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
