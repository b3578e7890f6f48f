"""Twilio's side of one bidirectional Media Stream, played against our server by the stand-in.

Every 20 ms on an absolute clock (start + n·20 ms, so it never drifts) it echoes the marks whose audio has
finished playing, advances the caller script, plays one frame of queued agent audio (recorded as heard), and
sends one 160-byte inbound μ-law frame: caller speech or silence, plus optional echo of the agent. Agent
messages are read concurrently: ``media`` queues audio, ``mark`` queues a mark behind it, ``clear`` drops
queued audio and echoes pending marks at once. Malformed agent messages are recorded in
``call.protocol_errors`` with the Twilio error they would cause.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from sdr_agent.sim.agent_playback import AgentPlayback
from sdr_agent.sim.call_record import (
    FRAME_MS,
    CallerTurnResult,
    HeardFrame,
    SimulatedCall,
    StreamMessage,
    finish_measurements,
)
from sdr_agent.sim.script_player import CallerAction, ScriptPlayer

CONNECT_TIMEOUT_S = 5.0
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def new_stream_sid() -> str:
    return "MZ" + secrets.token_hex(16)


class MediaStreamCaller:
    """Runs one stream to its end; ``run`` returns why it ended."""

    def __init__(
        self, call: SimulatedCall, target_url: str, headers: dict[str, str], clock_ms: Callable[[], float]
    ) -> None:
        self.call = call
        self._target_url = target_url
        self._headers = headers
        self._clock_ms = clock_ms
        self._ws: ClientConnection | None = None
        self._send_lock = asyncio.Lock()
        self._sequence = 0
        self._chunk = 0
        self._closing_by_us = False
        self._agent_closed = asyncio.Event()
        self._playback = AgentPlayback(call.plan.echo)
        self._was_playing = False
        self._awaiting_audio: CallerTurnResult | None = None
        self._awaiting_played: CallerTurnResult | None = None
        self._greeting_seen = False

    async def run(self) -> str:
        call = self.call
        try:
            self._ws = await connect(
                self._target_url,
                additional_headers=self._headers,
                open_timeout=CONNECT_TIMEOUT_S,
                proxy=None,
                compression=None,
                max_size=MAX_MESSAGE_BYTES,
            )
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            status = f" {exc.response.status_code}" if isinstance(exc, InvalidStatus) else ""
            call.stream_error = f"could not open stream: {type(exc).__name__}{status}"
            call.mark(self._clock_ms(), "stream_failed", detail=call.stream_error)
            return "stream-failed"
        call.stream_sid = new_stream_sid()
        loop = asyncio.get_running_loop()
        start = loop.time()
        call.stream_started_ms = self._clock_ms()
        call.mark(call.stream_started_ms, "stream_start", detail=call.stream_sid)
        receiver = asyncio.create_task(self._receive(), name=f"standin-receive-{call.sid}")
        try:
            await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"}, numbered=False)
            await self._send_start()
            return await self._tick_loop(loop, start, ScriptPlayer(call.plan.script, call.stream_started_ms))
        except ConnectionClosed:
            return "agent-closed-stream"
        finally:
            if not self._agent_closed.is_set() and not self._closing_by_us:
                await self._close_from_our_side(send_stop=True)
            receiver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await receiver
            self._record_close()
            finish_measurements(call)

    # ------------------------------------------------------------------ sending

    async def _send(self, message: dict[str, Any], numbered: bool = True) -> None:
        assert self._ws is not None
        async with self._send_lock:
            if numbered:
                self._sequence += 1
                message = {"event": message["event"], "sequenceNumber": str(self._sequence), **message}
            await self._ws.send(json.dumps(message))

    async def _send_start(self) -> None:
        call = self.call
        parameters = dict(call.custom_parameters)
        for name, value in call.plan.parameter_overrides.items():
            if value is None:
                parameters.pop(name, None)
            else:
                parameters[name] = value
        start = {
            "accountSid": call.account_sid,
            "streamSid": call.stream_sid,
            "callSid": call.sid,
            "tracks": ["inbound"],
            "customParameters": parameters,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await self._send({"event": "start", "streamSid": call.stream_sid, "start": start})

    async def _send_media(self, frame: bytes, tick: int) -> None:
        self._chunk += 1
        media = {
            "track": "inbound",
            "chunk": str(self._chunk),
            "timestamp": str(tick * FRAME_MS),
            "payload": base64.b64encode(frame).decode("ascii"),
        }
        await self._send({"event": "media", "streamSid": self.call.stream_sid, "media": media})
        self.call.frames_sent += 1

    async def _send_dtmf(self, digit: str, now_ms: float, label: str) -> None:
        dtmf = {"track": "inbound_track", "digit": digit}
        await self._send({"event": "dtmf", "streamSid": self.call.stream_sid, "dtmf": dtmf})
        self.call.dtmf_sent.append(digit)
        self.call.mark(now_ms, "dtmf", label, digit=digit)

    async def _echo_mark(self, name: str, now_ms: float, cleared: bool) -> None:
        await self._send({"event": "mark", "streamSid": self.call.stream_sid, "mark": {"name": name}})
        self.call.marks_echoed.append(name)
        self.call.mark(now_ms, "mark_echoed", name, cleared=cleared)

    async def _close_from_our_side(self, send_stop: bool) -> None:
        self._closing_by_us = True
        if self._ws is None:
            return
        with contextlib.suppress(ConnectionClosed, OSError):
            if send_stop:
                stop = {"accountSid": self.call.account_sid, "callSid": self.call.sid}
                await self._send({"event": "stop", "streamSid": self.call.stream_sid, "stop": stop})
                self.call.mark(self._clock_ms(), "stop_sent")
            await self._ws.close(1000, "call ended")

    def _record_close(self) -> None:
        call = self.call
        call.stream_closed = True
        if self._ws is not None:
            call.stream_close_code = self._ws.close_code
            call.stream_close_reason = self._ws.close_reason or ""
        call.mark(self._clock_ms(), "stream_closed", detail=call.stream_close_code)

    # ------------------------------------------------------------------ the 20 ms clock

    async def _tick_loop(self, loop: asyncio.AbstractEventLoop, start: float, player: ScriptPlayer) -> str:
        call = self.call
        stream_start_ms = player.stream_started_ms
        tick = 0
        while True:
            delay = start + tick * FRAME_MS / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            now_ms = stream_start_ms + tick * FRAME_MS
            if self._agent_closed.is_set():
                return "agent-closed-stream"
            if call.end_request is not None:
                await self._close_from_our_side(send_stop=True)
                return call.end_request
            for name in self._playback.finished_marks():
                await self._echo_mark(name, now_ms, cleared=False)
            action = player.tick(now_ms)
            self._note_steps(action, now_ms)
            hangup = action.hangup or self._forced_hangup(now_ms - stream_start_ms)
            if hangup is not None:
                call.mark(now_ms, "caller_hangup", detail=hangup)
                await self._close_from_our_side(send_stop=True)
                return hangup
            played = self._play(now_ms)
            player.heard(now_ms, played is not None)
            if action.digit is not None:
                await self._send_dtmf(action.digit, now_ms, player.results[-1].label)
            await self._send_media(self._playback.with_echo(action.frame, played), tick)
            tick += 1

    def _forced_hangup(self, elapsed_ms: float) -> str | None:
        plan = self.call.plan
        if plan.hangup_at_s is not None and elapsed_ms >= plan.hangup_at_s * 1000:
            return "caller-hangup"
        if elapsed_ms >= plan.max_call_s * 1000:
            return "max-duration"
        return None

    def _note_steps(self, action: CallerAction, now_ms: float) -> None:
        call = self.call
        if action.started is not None:
            turn = action.started
            call.turns.append(turn)
            call.mark(now_ms, f"caller_{turn.kind}_start", turn.label, barge_in=turn.agent_was_playing)
        if action.finished is not None:
            turn = action.finished
            call.mark(turn.ended_ms or now_ms, f"caller_{turn.kind}_end", turn.label)
            self._awaiting_audio = self._awaiting_played = turn

    def _play(self, now_ms: float) -> bytes | None:
        played = self._playback.play_tick()
        if played is None:
            if self._was_playing:
                self.call.mark(now_ms, "agent_play_stop")
            self._was_playing = False
            return None
        self.call.heard_frames.append(HeardFrame(now_ms, played))
        if not self._was_playing:
            self.call.mark(now_ms, "agent_play_start")
        self._was_playing = True
        if self._awaiting_played is not None:
            self._awaiting_played.first_agent_played_ms = now_ms
            self._awaiting_played = None
        return played

    # ------------------------------------------------------------------ what the agent sends

    async def _receive(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                await self._handle(raw)
        except ConnectionClosed:
            pass
        finally:
            if not self._closing_by_us:
                self._agent_closed.set()
                self.call.mark(self._clock_ms(), "agent_closed_stream")

    async def _handle(self, raw: str | bytes) -> None:
        call = self.call
        now_ms = self._clock_ms()
        if isinstance(raw, bytes):
            call.protocol_errors.append("binary frame (Twilio 31950)")
            return
        try:
            message = json.loads(raw)
        except json.JSONDecodeError:
            call.protocol_errors.append("invalid JSON (Twilio 31951)")
            return
        if not isinstance(message, dict):
            call.protocol_errors.append("message is not an object (Twilio 31951)")
            return
        event = message.get("event")
        if message.get("streamSid") != call.stream_sid:
            call.protocol_errors.append(f"{event!r} with wrong or missing streamSid (Twilio 31951)")
            return
        if event == "media":
            self._on_media(message, now_ms)
        elif event == "mark":
            self._on_mark(message, now_ms)
        elif event == "clear":
            call.events.append(StreamMessage(now_ms, "clear", message))
            dropped, marks = self._playback.clear()
            call.clears.append(now_ms)
            call.mark(now_ms, "clear", detail=dropped)
            for name in marks:
                await self._echo_mark(name, now_ms, cleared=True)
        else:
            call.protocol_errors.append(f"unknown event {event!r} (Twilio 31951)")

    def _on_media(self, message: dict[str, Any], now_ms: float) -> None:
        media = message.get("media")
        payload = media.get("payload") if isinstance(media, dict) else None
        if not isinstance(payload, str):
            self.call.protocol_errors.append("media without media.payload (Twilio 31951)")
            return
        try:
            audio = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            self.call.protocol_errors.append("media payload is not base64 (Twilio 31951)")
            return
        self.call.events.append(StreamMessage(now_ms, "media", {"event": "media", "bytes": len(audio)}))
        if not audio:
            return
        self._playback.enqueue(audio)
        if self._awaiting_audio is not None:
            self._awaiting_audio.first_agent_audio_ms = now_ms
            self.call.mark(now_ms, "agent_audio_first", self._awaiting_audio.label)
            self._awaiting_audio = None
        elif not self._greeting_seen and not self.call.turns:
            self.call.mark(now_ms, "agent_audio_first", "greeting")
        self._greeting_seen = True

    def _on_mark(self, message: dict[str, Any], now_ms: float) -> None:
        mark = message.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str) or not name:
            self.call.protocol_errors.append("mark without mark.name (Twilio 31951)")
            return
        self.call.events.append(StreamMessage(now_ms, "mark", message))
        self.call.marks_received.append(name)
        self._playback.add_mark(name)
