"""The server of the workers capacity phase: ``sdr-agent serve --workers N``'s own code path (migrations
once, uvicorn's supervisor, N spawned workers on one socket, multiprocess metrics), with each worker's engines
swapped for the bench's stand-ins once its app has started (``capacity_server.build_app``).

Settings come as a JSON file of ``Settings`` fields named by ``SDR_BENCH_SETTINGS``; the spawned workers read
the same variables, so each builds the same app.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from fastapi import FastAPI

from sdr_agent.settings import Settings

SETTINGS_ENV = "SDR_BENCH_SETTINGS"
ENGINES_ENV = "SDR_BENCH_ENGINES"


def _settings() -> Settings:
    values = json.loads(Path(os.environ[SETTINGS_ENV]).read_text())
    return Settings(_env_file=None, **values)


def worker_app() -> FastAPI:
    """One worker's app (uvicorn imports this by name in each spawned worker)."""
    from bench.capacity_server import build_app

    return build_app(_settings(), os.environ.get(ENGINES_ENV, "standin"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--engines", choices=("standin", "standin-fakevad"), default="standin")
    parser.add_argument("--settings", type=Path, required=True, help="JSON file of Settings fields")
    args = parser.parse_args(argv)
    os.environ[SETTINGS_ENV] = str(args.settings.resolve())
    os.environ[ENGINES_ENV] = args.engines
    settings = _settings()

    from sdr_agent.cli.server import serve_workers
    from sdr_agent.cli.workers import check_workers
    from sdr_agent.storage.migrate import upgrade

    check_workers(settings, max(2, args.workers))  # one worker here runs the same shared set-up as N
    upgrade(settings.database_url)
    serve_workers(settings, "127.0.0.1", args.port, args.workers, insecure_dev=False,
                  app_factory="bench.capacity_workers_server:worker_app", log_level="warning",
                  access_log=False)


if __name__ == "__main__":
    main()
