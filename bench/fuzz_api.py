"""Schemathesis over the server's own ``/openapi.json``: no server errors, every response as documented.

Starts the app (fake engines, a fresh SQLite database in a temporary directory, loopback only) on
127.0.0.1 and runs the ``schemathesis`` CLI against it. ``make test`` runs a bounded pass
(tests/hardening/test_fuzz_api.py); ``make fuzz`` runs this longer one:

    python bench/fuzz_api.py --max-examples 200 --max-time 300

Prints the failures and one JSON line (requests, failures by check, load average: other work on the
machine slows the run but never changes its verdict).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.common import ensure_import_paths

    ensure_import_paths()

import uvicorn
from pydantic import SecretStr

from sdr_agent.app import create_app
from sdr_agent.settings import LLMSettings, SecuritySettings, Settings, STTSettings, TTSSettings

API_KEY = "fuzz-key"
# Every check schemathesis has, except three that assume state our API does not model:
# use_after_free / ensure_resource_availability expect a created resource to be readable at once through
# every operation that names its id (batch calls and knowledge documents run with fake engines here), and
# positive_data_acceptance expects every schema-valid body to succeed (ids inside bodies must exist).
# Known false positives of schemathesis 4.32 are switched off per operation, never for the whole API:
# - tools: the negative-data check reports ``tool_config.api_schema`` as "missing required property: url"
#   although the schema declares a free-form object (the generator mixes it up with UrlDocumentRequest's
#   ``url``); tool validation has its own tests.
SCHEMATHESIS_CONFIG = """
[checks]
use_after_free.enabled = false
ensure_resource_availability.enabled = false
positive_data_acceptance.enabled = false

[[operations]]
include-path-regex = "^/v1/convai/tools"
checks.negative_data_rejection.enabled = false
"""


@dataclass
class FuzzResult:
    returncode: int
    seconds: float
    output: str
    failures: list[str] = field(default_factory=list)
    refused_connections: list[str] = field(default_factory=list)  # what the server tried beyond loopback

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def fuzz_settings(data_dir: Path, twilio_api_base: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        api_keys=[SecretStr(API_KEY)],
        database_url=f"sqlite+aiosqlite:///{data_dir / 'fuzz.db'}",
        data_dir=data_dir,
        public_base_url="https://agent.test",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token=SecretStr("fuzz-auth-token"),
        twilio_from_number="+15550000000",
        twilio_api_base=twilio_api_base,
        log_json=False,
        log_level="ERROR",
        stt=STTSettings(provider="fake", fallback="none"),
        tts=TTSSettings(provider="fake", fallback="none"),
        llm=LLMSettings(provider="fake", fallback="none"),
        # The fuzzer is one client hammering one key: a normal burst limit would answer most of it with 429.
        security=SecuritySettings(key_requests_per_window=1_000_000, failed_auth_per_window=1_000_000),
    )


class _TwilioRest(BaseHTTPRequestHandler):
    """Twilio's REST API as far as placing and updating calls: every call is accepted and never rings
    (the fuzzer judges the API, not calls). Without it every accepted outbound request would be a 502."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        sid = self.path.rsplit("/", 1)[-1].removesuffix(".json")
        body = {"sid": sid if sid.startswith("CA") else "CA" + secrets.token_hex(16), "status": "queued"}
        data = json.dumps(body).encode()
        self.send_response(201 if not sid.startswith("CA") else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        return


class _Server:
    def __init__(self, settings: Settings) -> None:
        sock_port = _free_port()
        self.url = f"http://127.0.0.1:{sock_port}"
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=sock_port, log_level="error", lifespan="on",
            ws="websockets-sansio",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@contextmanager
def loopback_only() -> Iterator[list[str]]:
    """While the fuzzer runs, this process (the server) connects only to loopback and resolves no names:
    fuzzed knowledge-base URLs and webhook URLs may name any public host, and nothing may leave the machine.
    Yields the list of refused destinations."""
    refused: list[str] = []
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else ""
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(str(host)):
            refused.append(str(host))
            raise PermissionError(f"fuzz harness: {host} is not loopback")
        real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in (None, "localhost") and not _is_numeric(str(host)):
            refused.append(f"dns:{host}")
            raise socket.gaierror(socket.EAI_NONAME, "fuzz harness: no DNS")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo
    try:
        yield refused
    finally:
        socket.socket.connect = real_connect  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _is_numeric(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        return False


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_fuzz(
    *, max_examples: int, max_time: int | None = None, workers: int = 1,
    phases: str = "examples,coverage,fuzzing", seed: int | None = None, extra: list[str] | None = None,
) -> FuzzResult:
    with loopback_only() as refused:
        result = _run_fuzz(max_examples, max_time, workers, phases, seed, extra)
    result.refused_connections = sorted(set(refused))
    return result


def _run_fuzz(
    max_examples: int, max_time: int | None, workers: int, phases: str, seed: int | None,
    extra: list[str] | None,
) -> FuzzResult:
    schemathesis = Path(sys.executable).with_name("schemathesis")
    twilio = ThreadingHTTPServer(("127.0.0.1", 0), _TwilioRest)
    threading.Thread(target=twilio.serve_forever, daemon=True).start()
    api_base = f"http://127.0.0.1:{twilio.server_address[1]}"
    with (
        tempfile.TemporaryDirectory(prefix="sdr-fuzz-") as tmp,
        _Server(fuzz_settings(Path(tmp), api_base)) as server,
    ):
        report = Path(tmp) / "report.ndjson"
        config = Path(tmp) / "schemathesis.toml"
        config.write_text(SCHEMATHESIS_CONFIG)
        command = [
            str(schemathesis), "--config-file", str(config), "run", f"{server.url}/openapi.json",
            "-H", f"xi-api-key: {API_KEY}",
            "--max-examples", str(max_examples), "--workers", str(workers),
            "--phases", phases, "--no-color", "--request-timeout", "30", "--generation-database", "none",
            "--report", "ndjson", "--report-ndjson-path", str(report), "--suppress-health-check", "all",
            "--continue-on-failure",
        ]
        if max_time:
            command += ["--max-time", str(max_time)]
        if seed is not None:
            command += ["--seed", str(seed)]
        command += extra or []
        started = time.monotonic()
        env = {**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_TELEMETRY": "false"}
        # In the temporary directory, so the CLI's own cache (.schemathesis/) never lands in the checkout.
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False, cwd=tmp)
        output = done.stdout + done.stderr
        twilio.shutdown()
        return FuzzResult(done.returncode, round(time.monotonic() - started, 1), output, _failures(output))


def _failures(output: str) -> list[str]:
    """``METHOD /path: STxxx name`` for each failed check in the CLI's report (one per kind and operation)."""
    found: list[str] = []
    operation = ""
    for line in output.splitlines():
        header = re.fullmatch(r"_+ (\w+ \S+) _+", line.strip())
        if header:
            operation = header.group(1)
            continue
        check = re.match(r"- (ST\d+ .+)$", line.strip())
        if check and operation:
            entry = f"{operation}: {check.group(1)}"
            if entry not in found:
                found.append(entry)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--max-time", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--phases", default="examples,coverage,fuzzing,stateful")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    result = run_fuzz(max_examples=args.max_examples, max_time=args.max_time, workers=args.workers,
                      phases=args.phases, seed=args.seed)
    print(result.output)
    summary = {"bench": "fuzz_api", **{k: v for k, v in asdict(result).items() if k != "output"},
               "ok": result.ok, "loadavg": os.getloadavg()}
    print(json.dumps(summary))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
