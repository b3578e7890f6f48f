"""The offline engines shared by concurrent calls: batched Whisper gives each call its own words (the same
as decoding alone), and hibari's first audio of a reply is not held back by another call's long reply."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
from engine_audio import synthesize_8k, words

from sdr_agent.engines.base import PCM16
from sdr_agent.engines.local import hibari_tts
from sdr_agent.engines.local.fair_worker import FairWorker, Priority
from sdr_agent.engines.local.hibari_tts import HibariTTS
from sdr_agent.engines.local.whisper_model import SharedWhisper, WhisperConfig, default_model_path
from sdr_agent.engines.local.whisper_stt import WhisperSTT
from sdr_agent.settings import STTSettings

pytestmark = pytest.mark.engines

LINES = (
    ("How much does the Team plan cost?", "team"),
    ("Is there a free trial?", "trial"),
    ("Does it work with Salesforce?", "work"),
    ("Please send me the contract by Friday.", "friday"),
)
_clips: list[PCM16] = []


async def clips() -> list[PCM16]:
    if not _clips:
        _clips.extend([await synthesize_8k(text) for text, _ in LINES])
    return _clips


def tone() -> PCM16:
    t = np.arange(8000) / 8000
    return (np.sin(2 * np.pi * 440 * t) * 6000).astype(np.int16)


async def test_a_batch_of_concurrent_utterances_gives_each_call_its_own_words() -> None:
    speech = await clips()
    # A tone (its decode loops into its small token cap inside a batch that runs to a larger one) and a
    # clip too long for the short window (decoded alone on the 30 s path) share the queue.
    long_clip = np.concatenate([speech[0], np.zeros(8000 * 11, dtype=np.int16)])
    inputs = [*speech, tone(), long_clip]
    shared = SharedWhisper(WhisperConfig(model=default_model_path()))
    alone = [shared.recognise(pcm, 8000).text for pcm in inputs]
    for (_, keyword), text in zip(LINES, alone, strict=False):
        assert keyword in words(text)
    assert alone[4] == ""
    shared.worker = FairWorker("stepped", shared.recognise_batch, max_batch=8, is_long=shared._is_long,
                               threaded=False)
    tickets = [shared.submit(f"call{i}", pcm, 8000, Priority.URGENT) for i, pcm in enumerate(inputs)]
    first = shared.worker.next_batch()
    shared.worker.run_now(first)
    assert len(first) == 5  # every short clip in one CTranslate2 batch
    second = shared.worker.next_batch()
    shared.worker.run_now(second)
    assert [t.owner for t in second] == ["call5"]
    assert [t.future.result(0).text for t in tickets] == alone


async def test_concurrent_streams_through_the_threaded_worker_get_their_own_transcripts() -> None:
    speech = await clips()
    stt = WhisperSTT(STTSettings())
    stt.shared.model()
    alone = [stt.shared.recognise(pcm, 8000).text for pcm in speech]
    together = await asyncio.gather(*(stt.transcribe(pcm, 8000) for pcm in speech))
    assert together == alone
    assert len(set(together)) == len(LINES)


LONG_REPLY = ("Our Team plan costs twenty dollars a month. It includes onboarding, support and training. "
              "You can cancel at any time. Shall I book a call?")


async def test_a_long_reply_never_holds_back_another_calls_first_audio() -> None:
    tts = HibariTTS()
    await tts.warm_up()
    worker = hibari_tts.worker
    gate, entered = threading.Event(), threading.Event()
    a_started = asyncio.Event()

    async def call_a() -> None:
        async for _chunk in tts.synthesize(LONG_REPLY):
            a_started.set()

    async def call_b() -> None:
        async for _chunk in tts.synthesize("Sure, I can help."):
            pass
        async for _chunk in tts.synthesize("What time suits you?"):
            pass

    def hold() -> None:
        entered.set()
        gate.wait(5)

    a = asyncio.create_task(call_a())
    await a_started.wait()  # A is in the middle of its reply: its later pieces are being synthesised
    gate_ticket = worker.submit("gate", hold)
    assert await asyncio.to_thread(entered.wait, 5)
    b = asyncio.create_task(call_b())
    for _ in range(200):
        if worker.waiting >= 2:  # A's next piece and B's first sentence both wait
            break
        await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(a, b)
    units = list(worker.units)
    gate_at = next(i for i, unit in enumerate(units) if unit.seqs == (gate_ticket.seq,))
    after = [unit for unit in units[gate_at + 1 :] if unit.owners[0] in (id(a), id(b))]
    assert after[0].owners == (id(b),) and after[0].priority is Priority.URGENT  # B's first audio goes next
    b_units = [unit for unit in after if unit.owners == (id(b),)]
    assert [unit.priority for unit in b_units] == [Priority.URGENT, Priority.LATER]  # its 2nd sentence waits
    assert any(unit.owners == (id(a),) for unit in after)  # A's reply still finished
