"""GET /metrics: auth (API key or metrics bearer token); what the call-loop hooks and live objects show."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from tests.conftest import API_KEY

from sdr_agent.app import create_app
from sdr_agent.logs import bind_call
from sdr_agent.observability import metrics as hooks
from sdr_agent.settings import Settings
from sdr_agent.storage.models import WebhookDeliveryRow, utcnow


def sample(text: str, name: str, labels: str = "") -> float | None:
    """The value of one sample in Prometheus text format (labels as written, e.g. 'stage="vad_end"')."""
    wanted = f"{name}{{{labels}}}" if labels else name
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == wanted:
            return float(value)
    return None


@dataclass
class FakeStats:
    bargein_holds: int = 0
    interruptions: int = 0
    resumes: int = 0
    engine_errors: int = 0


@dataclass
class FakeSession:
    stats: FakeStats = field(default_factory=FakeStats)


@dataclass
class FakeSwitch:
    kind: str
    from_engine: str
    to_engine: str


@pytest.fixture
def metrics_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_token": SecretStr("scrape-token-123")})


@pytest.fixture
async def live_app(metrics_settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(metrics_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def anon(live_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=live_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def test_metrics_need_a_key_or_the_metrics_token(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/metrics")).status_code == 401
    assert (await anon.get("/metrics", headers={"xi-api-key": "wrong"})).status_code == 401
    assert (await anon.get("/metrics", headers={"authorization": "Bearer wrong"})).status_code == 401
    assert (await anon.get("/metrics", headers={"authorization": API_KEY})).status_code == 401
    by_key = await anon.get("/metrics", headers={"xi-api-key": API_KEY})
    by_token = await anon.get("/metrics", headers={"authorization": "Bearer scrape-token-123"})
    assert by_key.status_code == by_token.status_code == 200
    assert by_key.headers["content-type"].startswith("text/plain")
    assert sample(by_token.text, "sdr_active_calls") == 0.0


async def test_bearer_is_refused_when_no_metrics_token_is_configured(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics", headers={"xi-api-key": "", "authorization": "Bearer anything"})
    assert response.status_code == 401


async def test_turn_hook_fills_stage_histograms_and_bargein_counters(
    live_app: FastAPI, anon: httpx.AsyncClient
) -> None:
    auth = {"xi-api-key": API_KEY}
    hooks.observe_turn(
        {"stages_ms": {"vad_end": 40.0, "stt_final": 180.0, "first_audio_sent": 620.0, "bogus": 5.0},
         "backchannels": 2, "hiccups": 1, "echo_ignored": 0},
        interrupted=False,
    )
    hooks.observe_turn({"stages_ms": {}, "stop_latency_ms": 130.0}, interrupted=True)
    text = (await anon.get("/metrics", headers=auth)).text
    assert sample(text, "sdr_turn_stage_latency_seconds_count", 'stage="first_audio_sent"') == 1.0
    assert sample(text, "sdr_turn_stage_latency_seconds_sum", 'stage="stt_final"') == pytest.approx(0.18)
    assert sample(text, "sdr_turn_stage_latency_seconds_bucket", 'le="0.7",stage="first_audio_sent"') == 1.0
    assert sample(text, "sdr_turn_stage_latency_seconds_bucket", 'le="0.6",stage="first_audio_sent"') == 0.0
    assert "bogus" not in text
    assert sample(text, "sdr_bargein_stop_latency_seconds_count") == 1.0
    assert sample(text, "sdr_agent_turns_total", 'outcome="interrupted"') == 1.0
    assert sample(text, "sdr_agent_turns_total", 'outcome="completed"') == 1.0
    assert sample(text, "sdr_backchannels_total") == 2.0
    assert sample(text, "sdr_bargein_hiccups_total") == 1.0


async def test_call_counters_add_live_calls_to_finished_ones_without_double_counting(
    live_app: FastAPI, anon: httpx.AsyncClient
) -> None:
    auth = {"xi-api-key": API_KEY}
    calls: dict[str, Any] = live_app.state.services.voice.calls
    calls["CA-live"] = FakeSession(FakeStats(bargein_holds=3, resumes=2, interruptions=1))
    calls["CA-done"] = FakeSession(FakeStats(bargein_holds=5, resumes=5, engine_errors=1))
    with bind_call(call_sid="CA-done"):
        hooks.observe_call_end({"bargein_holds": 5, "resumes": 5, "engine_errors": 1, "interruptions": 0})
        hooks.observe_call_end({"bargein_holds": 5, "resumes": 5, "engine_errors": 1})  # finish() twice
    text = (await anon.get("/metrics", headers=auth)).text
    assert sample(text, "sdr_active_calls") == 1.0
    assert sample(text, "sdr_calls_ended_total") == 1.0
    assert sample(text, "sdr_bargein_holds_total") == 8.0
    assert sample(text, "sdr_bargein_resumes_total") == 7.0
    assert sample(text, "sdr_bargein_interruptions_total") == 1.0
    assert sample(text, "sdr_engine_errors_total") == 1.0
    del calls["CA-done"], calls["CA-live"]
    text = (await anon.get("/metrics", headers=auth)).text
    assert sample(text, "sdr_active_calls") == 0.0
    assert sample(text, "sdr_bargein_holds_total") == 5.0  # the live call left without its end hook


async def test_engine_fallbacks_and_webhook_backlog(live_app: FastAPI, anon: httpx.AsyncClient) -> None:
    engines = live_app.state.services.voice.engines
    engines.stt.switches = [FakeSwitch("stt", "deepgram", "whisper")] * 2
    services = live_app.state.services
    async with services.db.session() as session:
        for index, status in enumerate(["pending", "pending", "sending", "delivered"]):
            session.add(WebhookDeliveryRow(
                delivery_id=f"dlv_{index}", url="https://hooks.invalid/x",
                event_type="post_call_transcription", idempotency_key=f"key-{index}", payload="{}",
                status=status, next_attempt_at=utcnow() + timedelta(hours=1),
            ))
    text = (await anon.get("/metrics", headers={"xi-api-key": API_KEY})).text
    labels = 'from_engine="deepgram",kind="stt",to_engine="whisper"'
    assert sample(text, "sdr_engine_fallbacks_total", labels) == 2.0
    assert sample(text, "sdr_webhook_backlog", 'status="pending"') == 2.0
    assert sample(text, "sdr_webhook_backlog", 'status="sending"') == 1.0


async def test_hooks_without_an_app_do_nothing() -> None:
    hooks.observe_turn({"stages_ms": {"vad_end": "not a number"}}, interrupted=False)
    hooks.observe_call_end({"resumes": None}, call_sid="CA-nobody")
    metrics = hooks.AppMetrics()
    metrics.observe_turn({"stages_ms": {"vad_end": "x", "stt_final": -1}, "stop_latency_ms": None},
                         interrupted=True)
    assert re.search(rb"sdr_active_calls 0", metrics.render())
