"""The stand-in's Media Stream: real-time frames, playback with marks and clear, the scripted caller."""

from __future__ import annotations

import asyncio
import base64
import json

from tests.telephony.conftest import SINK_SID, SINK_TOKEN
from tests.telephony.support import (
    AgentStream,
    FakeAgent,
    WebhookSink,
    drain,
    read_until,
    send_mark,
    send_media,
    tone,
)
from websockets.asyncio.server import ServerConnection

from sdr_agent.audio.mulaw import ulaw_to_pcm
from sdr_agent.audio.resample import rms
from sdr_agent.sim.call_record import EchoPath
from sdr_agent.sim.caller_script import CallerScript, CallerTurn, HangUp, PressDigits
from sdr_agent.sim.twilio import TwilioStandIn
from sdr_agent.telephony.twilio.rest import TwilioGateway
from sdr_agent.telephony.twilio.signature import is_valid_signature

TO, FROM = "+15551234567", "+15550000000"


async def _call(gateway: TwilioGateway) -> str:
    return await gateway.create_call(
        to=TO,
        from_=FROM,
        url="https://agent.test/twiml/voice_outbound",
        status_callback="https://agent.test/twiml/status",
    )


def _loud(message: dict[str, object]) -> bool:
    media = message["media"]
    assert isinstance(media, dict)
    return rms(ulaw_to_pcm(base64.b64decode(media["payload"]))) > 500


async def test_frames_follow_the_media_streams_protocol_in_real_time(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    arrivals: list[float] = []

    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        loop = asyncio.get_running_loop()
        while len(stream.media()) < 50:
            stream.received.append(json.loads(await ws.recv()))
            arrivals.append(loop.time())
        await ws.close()

    fake_agent.behaviour = behaviour
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)

    stream = fake_agent.streams[0]
    start = stream.start
    assert start["event"] == "start" and start["sequenceNumber"] == "1"
    assert start["streamSid"] == start["start"]["streamSid"] == call.stream_sid
    assert start["streamSid"].startswith("MZ") and len(start["streamSid"]) == 34
    assert start["start"]["accountSid"] == SINK_SID and start["start"]["tracks"] == ["inbound"]
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    assert start["start"]["customParameters"] == {"token": "tok-" + call.sid}
    media = stream.media()
    assert [m["sequenceNumber"] for m in media] == [str(n) for n in range(2, 52)]
    assert [m["media"]["chunk"] for m in media] == [str(n) for n in range(1, 51)]
    assert [m["media"]["timestamp"] for m in media] == [str(20 * n) for n in range(50)]
    assert all(m["media"]["track"] == "inbound" and m["streamSid"] == call.stream_sid for m in media)
    assert {base64.b64decode(m["media"]["payload"]) for m in media} == {b"\xff" * 160}
    elapsed = arrivals[-1] - arrivals[0]
    assert 0.8 < elapsed < 1.6, elapsed  # 49 frame intervals of 20 ms, paced, not a burst


async def test_ws_upgrade_is_signed_over_the_public_wss_url(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)
    headers = fake_agent.streams[0].headers
    url = f"wss://agent.test/ws/voice/{call.sid}"
    assert is_valid_signature(SINK_TOKEN, url, {}, headers["x-twilio-signature"])


async def test_marks_echo_after_their_audio_has_played(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    timings: dict[str, float] = {}

    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        loop = asyncio.get_running_loop()
        await ws.send(send_mark(stream, "before-audio"))
        await read_until(ws, stream, "mark")
        sent = loop.time()
        await ws.send(send_media(stream, tone(500)))
        await ws.send(send_mark(stream, "after-500ms"))
        await read_until(ws, stream, "mark")
        timings["echo_delay"] = loop.time() - sent
        await ws.close()

    fake_agent.behaviour = behaviour
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)

    assert call.marks_received == call.marks_echoed == ["before-audio", "after-500ms"]
    assert 0.48 <= timings["echo_delay"] < 0.9, timings
    assert len(call.heard_audio) == 4000 and call.heard_audio == tone(500)
    assert [m["mark"]["name"] for m in fake_agent.streams[0].of("mark")] == ["before-audio", "after-500ms"]


async def test_clear_drops_queued_audio_and_returns_pending_marks_at_once(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    timings: dict[str, float] = {}

    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        loop = asyncio.get_running_loop()
        await ws.send(send_media(stream, tone(2000)))
        await ws.send(send_mark(stream, "sentence-1"))
        await asyncio.sleep(0.3)
        cleared = loop.time()
        await ws.send(json.dumps({"event": "clear", "streamSid": stream.stream_sid}))
        await read_until(ws, stream, "mark")
        timings["mark_after_clear"] = loop.time() - cleared
        await asyncio.sleep(0.2)
        await ws.close()

    fake_agent.behaviour = behaviour
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)

    assert timings["mark_after_clear"] < 0.1
    assert call.marks_echoed == ["sentence-1"] and len(call.clears) == 1
    heard_ms = len(call.heard_audio) / 8
    assert 200 <= heard_ms <= 500, heard_ms
    assert any(e.kind == "mark_echoed" and e.detail["cleared"] for e in call.timeline)


async def test_caller_speaks_after_the_agent_falls_silent_and_latency_is_measured(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        await ws.send(send_media(stream, tone(200)))
        # wait for the caller's speech to end: loud frames followed by quiet ones
        loud_seen = False
        while True:
            message = json.loads(await ws.recv())
            stream.received.append(message)
            if message["event"] != "media":
                continue
            if _loud(message):
                loud_seen = True
            elif loud_seen:
                break
        await ws.send(send_media(stream, tone(200, freq=660)))
        await drain(ws, stream)

    fake_agent.behaviour = behaviour
    script = CallerScript.of(
        CallerTurn(tone(300, freq=300), delay_ms=200, label="question"), HangUp(delay_ms=100)
    )
    sink_standin.set_script(TO, script)
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)

    question, hangup = call.turns
    assert (question.label, question.kind, question.agent_was_playing) == ("question", "speech", False)
    assert question.ended_ms is not None and abs(question.ended_ms - question.started_ms - 300) < 1
    greeting_end = call.heard_frames[9].t_ms + 20
    assert 200 <= question.started_ms - greeting_end <= 260
    assert question.response_latency_ms is not None and 0 <= question.response_latency_ms < 200
    assert question.first_agent_played_ms is not None and question.first_agent_audio_ms is not None
    assert question.first_agent_played_ms >= question.first_agent_audio_ms - 1
    assert hangup.kind == "hangup" and call.ended_by == "caller-hangup"
    loud = [m for m in fake_agent.streams[0].media() if _loud(m)]
    assert len(loud) == 15  # 300 ms of caller speech
    assert fake_agent.streams[0].of("stop")
    kinds = [e.kind for e in call.timeline]
    assert (
        kinds.index("caller_speech_start") < kinds.index("caller_speech_end") < kinds.index("caller_hangup")
    )
    assert [e.label for e in call.timeline if e.kind == "agent_audio_first"] == ["greeting", "question"]


async def test_barge_in_stop_latency_is_measured_from_what_was_heard(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        await ws.send(send_media(stream, tone(3000)))
        while True:  # an agent that clears as soon as it hears the caller
            message = json.loads(await ws.recv())
            if message["event"] == "media" and _loud(message):
                break
        await ws.send(json.dumps({"event": "clear", "streamSid": stream.stream_sid}))
        await drain(ws, stream)

    fake_agent.behaviour = behaviour
    sink_standin.set_script(
        TO,
        CallerScript.of(
            CallerTurn(tone(400, freq=300), when="during_agent_speech", delay_ms=500, label="barge"),
            HangUp(when="at_time", delay_ms=1500),
        ),
    )
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)

    barge = call.turns[0]
    assert barge.agent_was_playing is True
    assert barge.stop_latency_ms is not None and 0 < barge.stop_latency_ms < 200, barge.stop_latency_ms
    first_heard = call.heard_frames[0].t_ms
    assert 480 <= barge.started_ms - first_heard <= 540
    assert len(call.heard_audio) / 8 < 1000  # the other two seconds were dropped
    assert call.clears


async def test_echo_leaks_the_agents_audio_into_the_inbound_track(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        await ws.send(send_media(stream, tone(400)))
        while len(stream.media()) < 40:
            stream.received.append(json.loads(await ws.recv()))
        await ws.close()

    fake_agent.behaviour = behaviour
    sink_standin.set_script(TO, echo=EchoPath(attenuation_db=6.0, delay_ms=100))
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)

    levels = [
        rms(ulaw_to_pcm(base64.b64decode(m["media"]["payload"]))) for m in fake_agent.streams[0].media()
    ]
    first_loud = next(i for i, level in enumerate(levels) if level > 500)
    assert call.stream_started_ms is not None
    first_played_tick = round((call.heard_frames[0].t_ms - call.stream_started_ms) / 20)
    assert first_loud - first_played_tick == 5  # 100 ms of delay = 5 frames
    assert 2000 < levels[first_loud + 5] < 4000  # 8000 amplitude sine (RMS ≈ 5650) at -6 dB
    assert all(level < 10 for level in levels[first_loud + 20 :])  # 400 ms of tone = 20 frames
    assert call.protocol_errors == []


async def test_caller_presses_digits(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        await ws.send(send_media(stream, tone(100)))
        await drain(ws, stream)

    fake_agent.behaviour = behaviour
    sink_standin.set_script(
        TO, [PressDigits("12#", delay_ms=0, gap_ms=40), HangUp(when="at_time", delay_ms=600)]
    )
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)

    dtmf = fake_agent.streams[0].of("dtmf")
    assert [d["dtmf"] for d in dtmf] == [{"track": "inbound_track", "digit": digit} for digit in "12#"]
    assert call.dtmf_sent == ["1", "2", "#"] and call.turns[0].kind == "digits"


async def test_mid_call_hangup_at_a_set_time(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    fake_agent.behaviour = drain
    sink_standin.set_script(TO, hangup_at_s=0.3)
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)

    assert call.ended_by == "caller-hangup"
    assert 14 <= len(fake_agent.streams[0].media()) <= 16
    assert fake_agent.streams[0].received[-1]["event"] == "stop"
    completed = call.callbacks_for("completed")[0].form
    assert completed["CallStatus"] == "completed" and completed["CallDuration"] == "1"


async def test_script_timeout_hangs_up_when_the_agent_never_does(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    fake_agent.behaviour = drain
    sink_standin.set_script(TO, CallerScript((), end_timeout_s=0.2))
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)
    assert call.ended_by == "script-timeout"


async def test_unanswered_outcomes_never_fetch_twiml(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, sink: WebhookSink
) -> None:
    for outcome in ("no-answer", "busy", "failed"):
        sink_standin.set_script(TO, outcome=outcome)  # type: ignore[arg-type]
        call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)
        assert [c.event for c in call.status_callbacks] == ["initiated", "ringing", "completed"]
        assert call.status_callbacks[-1].form["CallStatus"] == outcome
        assert call.status_callbacks[-1].form["CallDuration"] == "0"
        assert call.stream_url is None
    assert sink.of("/twiml/voice_outbound") == []


async def test_agent_protocol_mistakes_are_reported_like_twilio(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        await ws.send(b"\x00\x01")
        await ws.send(json.dumps({"event": "mark", "streamSid": stream.stream_sid, "mark": {}}))
        await ws.send(json.dumps({"event": "media", "streamSid": "MZwrong", "media": {"payload": ""}}))
        await ws.send(json.dumps({"event": "media", "streamSid": stream.stream_sid, "playload": "AA=="}))
        await ws.send(json.dumps({"event": "dance", "streamSid": stream.stream_sid}))
        await ws.send("{not json")
        await asyncio.sleep(0.1)
        await ws.close()

    fake_agent.behaviour = behaviour
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)
    assert len(call.protocol_errors) == 6
    assert "31950" in call.protocol_errors[0]


async def test_parameters_can_be_tampered_and_a_stream_replayed(
    gateway: TwilioGateway, sink_standin: TwilioStandIn, fake_agent: FakeAgent
) -> None:
    seen_tokens: list[str | None] = []

    async def behaviour(ws: ServerConnection, stream: AgentStream) -> None:
        token = stream.start["start"]["customParameters"].get("token")
        seen_tokens.append(token)
        if token is None or len(seen_tokens) > 1:
            await ws.close(1008, "invalid token")
            return
        await drain(ws, stream)

    fake_agent.behaviour = behaviour
    sink_standin.set_script(TO, parameter_overrides={"token": None}, hangup_at_s=0.5)
    refused = await sink_standin.wait_for_call(await _call(gateway), timeout=10)
    assert seen_tokens == [None]
    assert refused.stream_close_code == 1008 and refused.ended_by == "agent-closed-stream"

    seen_tokens.clear()
    sink_standin.set_script(TO, hangup_at_s=1.0)
    call_sid = await _call(gateway)
    await sink_standin.wait_for_stream(call_sid)
    replay = await sink_standin.replay_stream(call_sid, wait_s=1.0)
    assert replay.closed_by_server and replay.close_code == 1008
    assert seen_tokens == ["tok-" + call_sid] * 2
    await sink_standin.wait_for_call(call_sid, timeout=10)


async def test_stream_that_cannot_open_ends_the_call(
    sink_standin: TwilioStandIn, fake_agent: FakeAgent, gateway: TwilioGateway
) -> None:
    fake_agent.refuse_upgrades = True
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)
    assert call.stream_error == "could not open stream: InvalidStatus 403"
    assert call.ended_by == "stream-failed" and fake_agent.streams == []
    assert call.callbacks_for("completed")[0].form["CallStatus"] == "completed"


async def test_webhook_error_is_recorded(
    sink_standin: TwilioStandIn, sink: WebhookSink, gateway: TwilioGateway
) -> None:
    sink.voice_status = 403
    call = await sink_standin.wait_for_call(await _call(gateway), timeout=10)
    assert call.webhook_errors == ["webhook https://agent.test/twiml/voice_outbound answered 403"]
    assert call.stream_url is None


async def test_inbound_call_posts_the_inbound_webhook(
    sink_standin: TwilioStandIn, sink: WebhookSink, fake_agent: FakeAgent
) -> None:
    call = await sink_standin.start_inbound_call(
        "+15559990000", "+15551112222", script=[HangUp(when="at_time")]
    )
    await sink_standin.wait_for_call(call.sid, timeout=10)

    (_, form, headers) = sink.of("/twiml/voice_inbound")[0]
    assert form["Direction"] == "inbound" and form["CallStatus"] == "ringing"
    assert form["To"] == "+15559990000" and form["From"] == "+15551112222"
    assert is_valid_signature(
        SINK_TOKEN, "https://agent.test/twiml/voice_inbound", form, headers["x-twilio-signature"]
    )
    assert call.ended_by == "caller-hangup"
    assert [c.event for c in call.status_callbacks] == ["completed"]
