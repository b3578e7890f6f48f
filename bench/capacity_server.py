"""The server process of the capacity bench: the real app (uvicorn, one process, one event loop) on 127.0.0.1.

``--engines offline`` keeps the engines the settings choose (the embedded offline ones); ``--engines standin``
swaps in ``bench/standin_engines.py`` once the app has started, so calls cost what the call loop costs with
engines that run elsewhere (``standin-fakevad`` also replaces Silero with the energy VAD, to show the call
loop's own ceiling). Settings come as a JSON file of ``Settings`` fields.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import uvicorn
from bench.standin_engines import standin_engines
from fastapi import FastAPI

from sdr_agent.app import create_app
from sdr_agent.settings import Settings, VADSettings


def build_app(settings: Settings, engines: str, slow_callback_ms: float | None = None) -> FastAPI:
    app = create_app(settings)
    started = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(inner: FastAPI) -> AsyncIterator[None]:
        if slow_callback_ms is not None:
            # asyncio's debug mode logs every callback that holds the event loop longer than this.
            loop = asyncio.get_running_loop()
            loop.set_debug(True)
            loop.slow_callback_duration = slow_callback_ms / 1000.0
        async with started(inner):
            if engines.startswith("standin"):
                vad = VADSettings(provider="fake") if engines == "standin-fakevad" else settings.vad
                inner.state.services.voice.engines = standin_engines(vad)
            yield

    app.router.lifespan_context = lifespan
    return app


def log_gc_pauses(threshold_s: float) -> None:
    started: dict[str, float] = {}

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["t"] = time.perf_counter()
            return
        took = time.perf_counter() - started.get("t", time.perf_counter())
        if took >= threshold_s:
            print(f"gc pause gen{info.get('generation')} {took * 1000:.0f} ms "
                  f"(collected {info.get('collected')}, {gc.get_freeze_count()} frozen, "
                  f"{len(sys.modules)} modules, at {time.monotonic():.1f} s)", file=sys.stderr, flush=True)

    gc.callbacks.append(callback)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--engines", choices=("standin", "standin-fakevad", "offline"), required=True)
    parser.add_argument("--settings", type=Path, required=True, help="JSON file of Settings fields")
    parser.add_argument("--slow-callback-ms", type=float, default=None,
                        help="log event-loop stalls longer than this (asyncio debug mode; diagnosis only)")
    parser.add_argument("--gc-log", action="store_true",
                        help="print every garbage-collector pause over 10 ms to stderr (diagnosis only)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="write cProfile stats of the event-loop thread here on exit (diagnosis only)")
    args = parser.parse_args(argv)
    values = json.loads(args.settings.read_text())
    settings = Settings(_env_file=None, **values)
    if args.gc_log:
        log_gc_pauses(0.010)
    app = build_app(settings, args.engines, args.slow_callback_ms)
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                            lifespan="on")
    if args.profile is None:
        uvicorn.Server(config).run()
        return
    profiler = cProfile.Profile()
    try:
        profiler.runcall(uvicorn.Server(config).run)
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the SIGINT it shut down on
    finally:
        profiler.dump_stats(str(args.profile))


if __name__ == "__main__":
    main()
