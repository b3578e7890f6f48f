"""The listen half of the Deepgram stand-in: scripted transcripts over ``/v1/listen`` (``protocols.md`` §4).

Caller audio is "speech" when a chunk's RMS reaches ``speech_rms``, silence otherwise. The first speech takes
the next scripted utterance; while speech flows, interim results reveal it word by word (``ms_per_word``),
an utterance of four or more words is finalised in two segments (``is_final`` first half, then the rest), and
``endpointing_ms`` of silence closes it with ``speech_final`` followed by ``UtteranceEnd``. ``Finalize``
closes it at once with ``from_finalize``; speech resuming within ``CONTINUATION_S`` of such a cut is the
rest of the same line (the client finalised in a pause mid-sentence) and brings no new words, while speech
after an endpoint takes the next line. Silence alone yields an empty ``is_final`` result every second,
like Deepgram. With nothing received for ``idle_timeout_s`` the socket closes with 1011 ``NET-0001``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from time import monotonic
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket

from sdr_agent.audio.mulaw import ulaw_to_pcm
from sdr_agent.audio.resample import rms
from sdr_agent.sim.cloud_faults import FaultPlan

if TYPE_CHECKING:
    from sdr_agent.sim.deepgram import DeepgramStandIn

SILENCE_RESULT_MS = 1000.0
CONTINUATION_S = 0.7  # speech resuming this soon after a Finalize cut a line belongs to the same line


class _Drop(Exception):
    """Fault injection: end the connection abruptly."""


class ListenSession:
    def __init__(self, standin: DeepgramStandIn, ws: WebSocket, fault: FaultPlan) -> None:
        self._standin = standin
        self._ws = ws
        self._fault = fault
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._opened_at = monotonic()
        self._frames = 0
        self._audio_s = 0.0
        self._quiet_ms = 0.0
        self._request_id = str(uuid.uuid4())
        self._cut_at_s: float | None = None  # when a Finalize last closed a line (wall clock)
        self._reset()

    def _reset(self) -> None:
        self._words: list[str] | None = None
        self._segment = 0  # index of the first word not finalised yet
        self._segment_start_s = self._audio_s
        self._split_done = False
        self._speech_ms = 0.0
        self._silence_ms = 0.0
        self._since_interim_ms = 0.0
        self._speech_end_s = self._audio_s

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        close_code, reason, graceful = 1000, "", True
        try:
            close_code, reason = await self._receive_loop()
        except _Drop:
            close_code, reason, graceful = 1011, "stand-in fault: dropped", False
        finally:
            if self._words is not None and self._segment < len(self._words):
                # The caller's words were not delivered; the next connection hears them again.
                self._standin.utterances.appendleft(" ".join(self._words[self._segment :]))
            if graceful:
                self._out.put_nowait(None)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sender, 2.0)
            sender.cancel()
            with contextlib.suppress(Exception):
                await self._ws.close(code=close_code, reason=reason)

    async def _receive_loop(self) -> tuple[int, str]:
        standin = self._standin
        while True:
            try:
                message = await asyncio.wait_for(self._ws.receive(), standin.idle_timeout_s)
            except TimeoutError:
                standin.idle_closes += 1
                return 1011, "NET-0001"
            if message["type"] == "websocket.disconnect":
                return 1000, ""
            data = message.get("bytes")
            if data is not None:
                if not data:
                    standin.empty_binary_frames += 1
                    return 1000, ""  # Deepgram takes an empty frame as the end of the stream
                self._on_audio(data)
                continue
            text = message.get("text")
            if text is not None and self._on_control(text):
                self._out.put_nowait(
                    json.dumps(
                        {
                            "type": "Metadata",
                            "request_id": self._request_id,
                            "duration": self._audio_s,
                            "channels": 1,
                        }
                    )
                )
                return 1000, ""

    async def _send_loop(self) -> None:
        first = True
        while (item := await self._out.get()) is not None:
            if first and self._fault.first_byte_delay_s > 0:
                await asyncio.sleep(max(0.0, self._opened_at + self._fault.first_byte_delay_s - monotonic()))
            first = False
            await self._ws.send_text(item)

    # ------------------------------------------------------------ inbound
    def _on_control(self, text: str) -> bool:
        """Handle a control message; True when the stream should close (CloseStream)."""
        try:
            kind = str(json.loads(text).get("type"))
        except (json.JSONDecodeError, AttributeError):
            kind = "invalid"
        self._standin.controls.append(kind)
        if kind == "Finalize":
            if self._words is not None and self._speech_ms > 0:
                self._finish(speech_final=False, from_finalize=True)
            elif self._standin.answer_empty_finalize:
                self._results([], is_final=True, from_finalize=True)
        elif kind == "CloseStream":
            if self._words is not None and self._speech_ms > 0:
                self._finish(speech_final=True)
            return True
        return False

    def _on_audio(self, data: bytes) -> None:
        standin, fault = self._standin, self._fault
        self._frames += 1
        standin.audio_bytes += len(data)
        if fault.disconnect_after is not None and self._frames >= fault.disconnect_after:
            raise _Drop
        if fault.malformed_after is not None and self._frames == fault.malformed_after:
            self._out.put_nowait("{this is not json")
        ms = len(data) / 8.0
        self._audio_s += ms / 1000.0
        if rms(ulaw_to_pcm(data)) >= standin.speech_rms:
            self._on_speech(ms)
        elif self._words is not None and self._speech_ms > 0:
            self._silence_ms += ms
            if self._silence_ms >= standin.endpointing_ms:
                self._finish(speech_final=True)
                self._out.put_nowait(
                    json.dumps(
                        {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": round(self._audio_s, 3)}
                    )
                )
        else:
            self._quiet_ms += ms
            if self._quiet_ms >= SILENCE_RESULT_MS:
                self._quiet_ms = 0.0
                self._results([], is_final=True)

    def _on_speech(self, ms: float) -> None:
        standin = self._standin
        if self._words is None:
            # Wall-clock: clients may stop streaming between utterances, so audio time stands still.
            resumed = self._cut_at_s is not None and monotonic() - self._cut_at_s <= CONTINUATION_S
            if resumed:
                # The caller paused mid-sentence and the client finalised early: the scripted line was
                # already delivered whole, so the rest of the sentence adds no new words.
                self._words = []
            elif not standin.utterances:
                return  # unscripted speech: Deepgram would hear something, the script has nothing to say
            else:
                self._words = standin.utterances.popleft().split()
            self._segment_start_s = self._audio_s - ms / 1000.0
        self._quiet_ms = 0.0
        self._speech_end_s = self._audio_s
        self._speech_ms += ms
        self._silence_ms = 0.0
        self._since_interim_ms += ms
        if self._since_interim_ms >= standin.interim_interval_ms:
            self._since_interim_ms = 0.0
            self._interim()

    # ------------------------------------------------------------ outbound
    def _interim(self) -> None:
        words = self._words or []
        shown = min(len(words), 1 + int(self._speech_ms / self._standin.ms_per_word))
        half = len(words) // 2
        if not self._split_done and len(words) >= 4 and shown > half:
            self._results(words[:half], is_final=True)
            self._segment, self._split_done = half, True
            self._segment_start_s = self._audio_s
        if shown > self._segment:
            self._results(words[self._segment : shown], is_final=False)

    def _finish(self, *, speech_final: bool, from_finalize: bool = False) -> None:
        words = self._words or []
        rest = words[self._segment :]
        self._results(rest, is_final=True, speech_final=speech_final, from_finalize=from_finalize)
        if words:
            self._standin.finished_utterances.append(" ".join(words))
        self._cut_at_s = monotonic() if from_finalize else None
        self._reset()

    def _results(
        self, words: list[str], *, is_final: bool, speech_final: bool = False, from_finalize: bool = False
    ) -> None:
        start = self._segment_start_s if words else self._audio_s
        duration = max(0.0, self._audio_s - start)
        step = max(0.0, self._speech_end_s - start) / max(1, len(words))  # words lie within the speech
        payload: dict[str, Any] = {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round(duration, 3),
            "start": round(start, 3),
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {
                        "transcript": " ".join(words),
                        "confidence": 0.98 if words else 0.0,
                        "words": [
                            {
                                "word": w.lower(),
                                "start": round(start + i * step, 3),
                                "end": round(start + (i + 1) * step, 3),
                                "confidence": 0.98,
                                "punctuated_word": w,
                            }
                            for i, w in enumerate(words)
                        ],
                    }
                ]
            },
            "metadata": {
                "request_id": self._request_id,
                "model_uuid": "stand-in",
                "model_info": {"name": "stand-in", "version": "1", "arch": "stand-in"},
            },
        }
        self._out.put_nowait(json.dumps(payload))
