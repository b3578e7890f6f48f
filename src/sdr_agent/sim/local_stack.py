"""The whole product on 127.0.0.1: the real server (uvicorn, real app, real engines) plus the Twilio
stand-in, wired together. Used by ``sdr-agent demo``, the benchmarks and end-to-end tests."""

from __future__ import annotations

import asyncio
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from sdr_agent.app import create_app
from sdr_agent.settings import Settings
from sdr_agent.sim.twilio import TwilioStandIn

PUBLIC_BASE_URL = "https://sdr-agent.demo.invalid"
AGENT_NUMBER = "+15550100000"


@dataclass
class LocalStack:
    settings: Settings
    api: httpx.AsyncClient
    twilio: TwilioStandIn
    base_url: str
    app: FastAPI

    async def create_document(self, name: str, text: str) -> str:
        response = await self.api.post("/v1/convai/knowledge-base/text", json={"name": name, "text": text})
        response.raise_for_status()
        return str(response.json()["id"])

    async def create_agent(self, body: dict[str, Any]) -> str:
        response = await self.api.post("/v1/convai/agents/create", json=body)
        response.raise_for_status()
        return str(response.json()["agent_id"])

    async def import_number(self, agent_id: str, number: str = AGENT_NUMBER) -> str:
        response = await self.api.post(
            "/v1/convai/phone-numbers",
            json={
                "provider": "twilio",
                "phone_number": number,
                "label": "demo line",
                "agent_id": agent_id,
                "sid": self.settings.twilio_account_sid,
                "token": self.settings.twilio_auth_token.get_secret_value(),
            },
        )
        response.raise_for_status()
        return str(response.json()["phone_number_id"])

    async def place_call(
        self, agent_id: str, phone_number_id: str, to_number: str, variables: dict[str, str]
    ) -> tuple[str, str]:
        """ElevenLabs' outbound-call endpoint. Returns (conversation_id, call_sid)."""
        response = await self.api.post(
            "/v1/convai/twilio/outbound-call",
            json={
                "agent_id": agent_id,
                "agent_phone_number_id": phone_number_id,
                "to_number": to_number,
                "conversation_initiation_client_data": {"dynamic_variables": variables},
            },
        )
        response.raise_for_status()
        body = response.json()
        return str(body["conversation_id"]), str(body["callSid"])

    async def conversation(self, conversation_id: str) -> dict[str, Any]:
        response = await self.api.get(f"/v1/convai/conversations/{conversation_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def wait_for_status(
        self, conversation_id: str, statuses: set[str], timeout: float
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            conversation = await self.conversation(conversation_id)
            if conversation["status"] in statuses or asyncio.get_running_loop().time() > deadline:
                return conversation
            await asyncio.sleep(0.2)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def local_stack(
    data_dir: Path | None = None, settings_overrides: dict[str, Any] | None = None
) -> AsyncIterator[LocalStack]:
    """Start the stand-in and the server; yield an API client with a valid key."""
    with tempfile.TemporaryDirectory(prefix="sdr-agent-") as tmp:
        root = Path(data_dir or tmp)
        api_key = secrets.token_urlsafe(18)
        account_sid = "AC" + secrets.token_hex(16)
        auth_token = secrets.token_hex(16)
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        standin = TwilioStandIn(account_sid, auth_token, PUBLIC_BASE_URL, target_base_url=base_url)
        async with standin as twilio:
            values: dict[str, Any] = {
                "api_keys": [api_key],
                "database_url": f"sqlite+aiosqlite:///{root / 'sdr_agent.db'}",
                "data_dir": root,
                "public_base_url": PUBLIC_BASE_URL,
                "twilio_account_sid": account_sid,
                "twilio_auth_token": auth_token,
                "twilio_from_number": AGENT_NUMBER,
                "twilio_api_base": twilio.api_base,
                "log_json": False,
                # Everything of this stack (webhook receivers, tool servers, pages) lives on loopback, which a
                # production server refuses to reach (security/urls.py).
                "security": {"url_allowlist": ["127.0.0.0/8", "localhost"]},
            }
            values.update(settings_overrides or {})
            settings = Settings(**values)
            app = create_app(settings)
            server = uvicorn.Server(
                uvicorn.Config(
                    app,
                    host="127.0.0.1",
                    port=port,
                    log_level="warning",
                    lifespan="on",
                    access_log=False,
                )
            )
            serving = asyncio.create_task(server.serve())
            try:
                while not server.started:
                    if serving.done():
                        serving.result()
                        raise RuntimeError("server exited during start-up")
                    await asyncio.sleep(0.05)
                headers = {"xi-api-key": api_key}
                async with httpx.AsyncClient(
                    base_url=base_url, headers=headers, timeout=30.0, trust_env=False
                ) as api:
                    yield LocalStack(settings=settings, api=api, twilio=twilio, base_url=base_url, app=app)
            finally:
                server.should_exit = True
                await asyncio.wait_for(serving, timeout=15.0)
