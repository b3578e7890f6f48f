"""A voice conversation with the official SDK's ``Conversation`` over the realtime socket, on the real offline
engines: a custom AudioInterface plays recorded questions in a caller voice that is not the agent's, records
the agent's audio, talks over the agent (an interruption event must arrive), and ends the session."""

from __future__ import annotations

import threading
import time
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from elevenlabs import ElevenLabs
from elevenlabs.conversational_ai.conversation import AudioInterface, Conversation, DisconnectionDetails
from fastapi import FastAPI

from sdr_agent.app import create_app
from sdr_agent.engines.base import PCM16
from sdr_agent.settings import LLMSettings, Settings, STTSettings, TTSSettings, VADSettings
from tests.conftest import API_KEY, LiveServer, run_in_thread
from tests.web.caller_audio import caller_speech
from tests.web.conftest import Waiter, make_agent

pytestmark = [
    pytest.mark.engines,
    pytest.mark.filterwarnings("ignore:The `__fields__` attribute is deprecated:DeprecationWarning"),
]
RATE = 16000
CHUNK = RATE // 10  # 100 ms per user_audio_chunk


class ScriptedCaller(AudioInterface):
    """Streams silence in real time, or the speech queued with ``say``; records what the agent plays."""

    def __init__(self) -> None:
        self.played: list[bytes] = []
        self.last_output_at = 0.0
        self.interruptions: list[float] = []
        self._speech: list[PCM16] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.speaking = threading.Event()

    def start(self, input_callback: Callable[[bytes], None]) -> None:
        self._thread = threading.Thread(target=self._feed, args=(input_callback,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)

    def output(self, audio: bytes) -> None:
        with self._lock:
            self.played.append(audio)
            self.last_output_at = time.monotonic()

    def interrupt(self) -> None:
        with self._lock:
            self.interruptions.append(time.monotonic())

    def say(self, pcm: PCM16) -> None:
        with self._lock:
            self._speech.append(pcm)
            self.speaking.set()

    def agent_silent_for(self, seconds: float) -> bool:
        with self._lock:
            return time.monotonic() - self.last_output_at >= seconds

    def _feed(self, send: Callable[[bytes], None]) -> None:
        pending = np.zeros(0, dtype=np.int16)
        next_at = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                if not len(pending) and self._speech:
                    pending = self._speech.pop(0)
            chunk = pending[:CHUNK]
            pending = pending[CHUNK:]
            if len(chunk) < CHUNK:
                chunk = np.concatenate([chunk, np.zeros(CHUNK - len(chunk), dtype=np.int16)])
                if not len(pending):
                    self.speaking.clear()
            send(chunk.astype("<i2").tobytes())
            next_at += CHUNK / RATE
            time.sleep(max(0.0, next_at - time.monotonic()))


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def engine_server(settings: Settings) -> Iterator[str]:
    real = settings.model_copy(update={
        "stt": STTSettings(provider="whisper", fallback="none"),
        "tts": TTSSettings(provider="hibari", fallback="none"),
        "llm": LLMSettings(provider="grounded", fallback="none"),
        "vad": VADSettings(provider="silero"),
    })
    app: FastAPI = create_app(real)
    server = LiveServer(app)
    server.start(timeout=120)
    try:
        yield server.url
    finally:
        server.stop()


def test_voice_conversation_with_the_sdk_answers_is_interrupted_and_is_stored(
    engine_server: str, artifacts_dir: Path
) -> None:
    question = run_in_thread(caller_speech("How much does the team plan cost?"))
    barge_in = run_in_thread(caller_speech("Wait, wait. Is there a free trial?"))
    agent_id = make_agent(engine_server, first_message="Hi, this is Sam from Acme. How can I help you today?")
    caller = ScriptedCaller()
    replies, heard = Waiter(), Waiter()
    corrections: list[tuple[str, str]] = []
    ended: list[DisconnectionDetails] = []
    conversation = Conversation(
        ElevenLabs(api_key=API_KEY, base_url=engine_server), agent_id, requires_auth=True,
        audio_interface=caller, callback_agent_response=replies.add, callback_user_transcript=heard.add,
        callback_agent_response_correction=lambda original, fixed: corrections.append((original, fixed)),
        callback_disconnect=ended.append,
    )
    conversation.start_session()
    try:
        first = replies.wait_for(lambda r: len(r) >= 1, timeout=60)[0]
        assert first.startswith("Hi, this is Sam from Acme")
        _wait(lambda: caller.agent_silent_for(0.7), 10, "the first message to finish")
        caller.say(question)
        got = heard.wait_for(lambda h: any("plan" in t.lower() for t in h), timeout=60)
        assert any("team" in t.lower() for t in got), got
        # Talk over the answer once the caller has heard a second of it.
        started = len(caller.played)
        _wait(lambda: len(caller.played) >= started + 25, 60, "the agent to start answering")
        caller.say(barge_in)
        _wait(lambda: bool(caller.interruptions), 30, "an interruption event")
        answers = replies.wait_for(lambda r: any("14" in x or "trial" in x.lower() for x in r[1:]), 60)
        _wait(lambda: caller.agent_silent_for(0.5), 20, "the trial answer to finish playing")
    finally:
        conversation.end_session()
    conversation_id = conversation.wait_for_session_end()
    assert [d.reason for d in ended] == ["user"]  # end_session ended it cleanly, once
    pcm = np.frombuffer(b"".join(caller.played), dtype="<i2")
    with wave.open(str(artifacts_dir / "sdk_voice_reply.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm.tobytes())
    assert len(pcm) > RATE * 3, "the agent's speech was played to the client"
    assert any("49" in a for a in answers), answers  # the answer that was talked over, as first sent
    assert corrections and len(corrections[0][1]) < len(corrections[0][0])

    with httpx.Client(base_url=engine_server, headers={"xi-api-key": API_KEY}, timeout=10) as http:
        deadline = time.monotonic() + 30
        while (stored := http.get(f"/v1/convai/conversations/{conversation_id}").json())["status"] != "done":
            assert time.monotonic() < deadline, stored["status"]
            time.sleep(0.2)
        audio = http.get(f"/v1/convai/conversations/{conversation_id}/audio")
    transcript = stored["transcript"]
    assert transcript[0]["role"] == "agent" and transcript[0]["message"].startswith("Hi, this is Sam")
    users = [t["message"].lower() for t in transcript if t["role"] == "user"]
    assert any("plan" in u for u in users) and any("trial" in u for u in users), users
    assert any(t["role"] == "agent" and t["interrupted"] for t in transcript)
    assert stored["metadata"]["web_call"]["mode"] == "audio"
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
