"""`sdr-agent serve` as a real child process (so it can be killed with SIGKILL mid-campaign)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

API_KEY = "crash-key"
SID = "AC" + "7" * 32
TOKEN = "crash-token"
PUBLIC = "https://agent.test"
FROM_NUMBER = "+15550100000"


def server_env(database_url: str, data_dir: Path, twilio_api_base: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDR_")}
    env.update(
        {
            "SDR_API_KEYS": API_KEY,
            "SDR_DATABASE_URL": database_url,
            "SDR_DATA_DIR": str(data_dir),
            "SDR_PUBLIC_BASE_URL": PUBLIC,
            "SDR_TWILIO_ACCOUNT_SID": SID,
            "SDR_TWILIO_AUTH_TOKEN": TOKEN,
            "SDR_TWILIO_FROM_NUMBER": FROM_NUMBER,
            "SDR_TWILIO_API_BASE": twilio_api_base,
            "SDR_STT__PROVIDER": "fake",
            "SDR_STT__FALLBACK": "none",
            "SDR_TTS__PROVIDER": "fake",
            "SDR_TTS__FALLBACK": "none",
            "SDR_LLM__PROVIDER": "fake",
            "SDR_LLM__FALLBACK": "none",
            "SDR_VAD__PROVIDER": "fake",
            "SDR_ANALYSIS__METHOD": "rules",
            "SDR_LOG_JSON": "false",
            "SDR_LOG_LEVEL": "WARNING",
            "SDR_CAMPAIGNS__TICK_INTERVAL_S": "0.2",
            "SDR_CAMPAIGNS__RECONCILE_AFTER_S": "2",
            "SDR_CAMPAIGNS__DIAL_LEASE_S": "3",
            **extra,
        }
    )
    return env


class ServerProcess:
    def __init__(self, port: int, env: dict[str, str], log_path: Path) -> None:
        self.port = port
        self.env = env
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 60.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "sdr-agent"), "serve", "--port", str(self.port)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = asyncio.get_running_loop().time() + timeout
        async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()[-3000:]}")
                try:
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise TimeoutError(f"server did not start: {self.log_path.read_text()[-3000:]}")
                await asyncio.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()
