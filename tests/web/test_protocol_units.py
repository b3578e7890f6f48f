"""The realtime socket's pure parts: message parsing, audio formats, the transport's event ids and marks."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.web import protocol
from sdr_agent.web.audio_format import AudioFormat, StreamConverter, UnsupportedFormat
from sdr_agent.web.transport import RealtimeTransport


def test_client_messages_parse_into_typed_events() -> None:
    init = protocol.parse_client_message(json.dumps({
        "type": "conversation_initiation_client_data", "dynamic_variables": {"name": "Dana"},
        "conversation_config_override": {"agent": {"first_message": "Hey"}, "text_only": True},
        "source_info": {"source": "python_sdk", "version": "2.78"}, "user_id": "u1",
    }))
    assert isinstance(init, protocol.InitiationData)
    assert init.text_only and init.agent_override == {"agent": {"first_message": "Hey"}}
    assert init.dynamic_variables == {"name": "Dana"} and init.source == "python_sdk" and init.user_id == "u1"
    nested = protocol.parse_client_message(json.dumps({
        "type": "conversation_initiation_client_data",
        "conversation_config_override": {"conversation": {"text_only": True}}}))
    assert isinstance(nested, protocol.InitiationData) and nested.text_only
    chunk = base64.b64encode(b"\x01\x02").decode()
    audio = protocol.parse_client_message(json.dumps({"user_audio_chunk": chunk}))
    assert audio == protocol.UserAudioChunk(b"\x01\x02")
    assert protocol.parse_client_message('{"type": "pong", "event_id": 3}') == protocol.Pong(3)
    message = protocol.parse_client_message('{"type": "user_message", "text": "hi"}')
    assert message == protocol.UserMessage("hi")
    assert protocol.parse_client_message('{"type": "user_activity"}') == protocol.UserActivity()
    result = protocol.parse_client_message(
        '{"type": "client_tool_result", "tool_call_id": "c1", "result": {"ok": 1}, "is_error": false}')
    assert result == protocol.ClientToolResult("c1", '{"ok": 1}', False)


@pytest.mark.parametrize("raw", [
    b"\x00", "nope", "[1]", '{"type": 3}', '{"type": "unknown"}', '{"user_audio_chunk": 5}',
    '{"user_audio_chunk": "***"}', '{"type": "user_message"}', '{"type": "user_message", "text": []}',
    json.dumps({"type": "user_message", "text": "x" * (protocol.MAX_TEXT_CHARS + 1)}),
    '{"type": "pong", "event_id": "x"}', '{"type": "client_tool_result"}',
    '{"type": "conversation_initiation_client_data", "dynamic_variables": []}', "[" * 100_000,
])
def test_malformed_messages_raise_malformed_message_only(raw: str | bytes) -> None:
    with pytest.raises(protocol.MalformedMessage):
        protocol.parse_client_message(raw)


def test_audio_formats_parse_and_reject() -> None:
    assert AudioFormat.parse(None) == AudioFormat("pcm_16000", False, 16000)
    assert AudioFormat.parse("ulaw_8000").ulaw
    assert AudioFormat.parse("PCM_44100").rate == 44100
    for bad in ("pcm_11025", "mp3_44100", "pcm_", "ulaw_16000", ""):
        if bad == "":
            continue  # empty means the default
        with pytest.raises(UnsupportedFormat):
            AudioFormat.parse(bad)


def test_stream_conversion_keeps_duration_and_odd_byte_splits() -> None:
    tone = (np.sin(np.arange(16000) / 16000 * 2 * np.pi * 440) * 8000).astype("<i2").tobytes()
    inbound = StreamConverter(AudioFormat.parse("pcm_16000"), to_call=True)
    ulaw = b"".join(inbound.convert(tone[i:i + 3333]) for i in range(0, len(tone), 3333))  # odd-sized chunks
    assert 7000 <= len(ulaw) <= 8000  # one second at 8 kHz, less the resampler's look-ahead
    outbound = StreamConverter(AudioFormat.parse("pcm_24000"), to_call=False)
    pcm = b"".join(outbound.convert(ulaw[i:i + 160]) for i in range(0, len(ulaw), 160))
    assert len(pcm) % 2 == 0 and 0.8 * 48000 <= len(pcm) <= 48000
    passthrough = StreamConverter(AudioFormat.parse("ulaw_8000"), to_call=True)
    assert passthrough.convert(b"\xff" * 160) == b"\xff" * 160


class _Sent:
    def __init__(self) -> None:
        self.messages: list[dict[str, object]] = []
        self.closed: tuple[int, str] | None = None

    async def send(self, text: str) -> None:
        self.messages.append(json.loads(text))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)


async def test_event_ids_rise_across_audio_and_interruptions_and_marks_echo_like_twilio() -> None:
    sent = _Sent()
    now = [100.0]
    transport = RealtimeTransport(sent, AudioFormat.parse("ulaw_8000"), clock=lambda: now[0])  # type: ignore[arg-type]
    echoed: list[str] = []
    transport.on_mark = echoed.append
    frame = pcm_to_ulaw(np.zeros(160, np.int16))
    for _ in range(3):
        await transport.send_media(frame)
    await transport.send_mark("seg1")
    await transport.send_clear()  # the mark was not played yet: echoed at once, as Twilio does after clear
    assert echoed == ["seg1"]
    await transport.send_media(frame)
    await transport.send_mark("seg2")
    now[0] += 1.0
    await asyncio.sleep(0.05)  # seg2's echo is due 20 ms (one frame) after it was sent
    ids = [(m["type"], (m.get("audio_event") or m.get("interruption_event"))["event_id"])  # type: ignore[index]
           for m in sent.messages]
    assert ids == [("audio", 1), ("audio", 2), ("audio", 3), ("interruption", 4), ("audio", 5)]
    assert echoed == ["seg1", "seg2"]
    await transport.close(1000, "done")
    assert sent.closed == (1000, "done")
