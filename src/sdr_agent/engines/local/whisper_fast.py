"""Short-window Whisper decode: the encoder on a 10 s mel window instead of faster-whisper's fixed 30 s.

faster-whisper pads every segment to 3000 mel frames (``pad_or_trim``), so a 1 s "How much is it?" costs
the same encoder time as 30 s of speech (tiny.en on 2 cores: ~500 ms for 3000 frames, ~75 ms for 1000).
Whisper was trained on 30 s windows, but the encoder is position-wise enough that a 1000-frame window
decodes the same words on phone-length turns (checked on a corpus by ``bench/whisper_window.py``); shorter
windows (300-500 frames) make the decoder loop, so 1000 is the floor. The decoder gets a hard token cap
(about 10 tokens per second of audio) because a looping decode on a tone otherwise runs to 448 tokens.

Same options as ``SharedWhisper.recognise`` passes to ``transcribe`` (greedy, no timestamps, no
conditioning, faster-whisper's default suppressed tokens), and the same per-segment numbers
(no_speech_prob, avg_logprob, compression ratio) for ``whisper_filter``. Audio longer than the window goes
back to the 30 s path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sdr_agent.engines.local.whisper_filter import DecodedSegment

WINDOW_FRAMES = 1000  # 10 s of mel frames (10 ms hop)
MAX_FAST_AUDIO_S = 9.5  # leave the window some padding: Whisper expects silence after the speech
TOKENS_PER_SECOND = 10.0
MIN_TOKEN_CAP = 16
# A tone decodes to "Beep Beep Beep Beep" with no_speech ≈ 0.8 but a confident log-prob; on a 30 s window
# Whisper gives up instead. The same word 4 times running, when Whisper doubts there is speech, is a loop.
LOOP_REPEATS = 4
LOOP_NO_SPEECH = 0.5


def token_cap(audio_s: float) -> int:
    """How many new tokens a clip this long may produce (speech runs 2-4 tokens a second)."""
    return max(MIN_TOKEN_CAP, int(TOKENS_PER_SECOND * audio_s + 0.5))


def fits_window(samples: int, rate: int) -> bool:
    return samples / rate <= MAX_FAST_AUDIO_S


def fast_segments(
    model: Any, audio: NDArray[np.float32], language: str, beam_size: int = 1, prompt_text: str = ""
) -> list[DecodedSegment]:
    """Decode 16 kHz float audio (≤ ``MAX_FAST_AUDIO_S``) on a 10 s window. ``model`` is a WhisperModel."""
    return fast_segments_batch(model, [audio], language, beam_size, prompt_text)[0]


def fast_segments_batch(
    model: Any, audios: Sequence[NDArray[np.float32]], language: str, beam_size: int = 1,
    prompt_text: str = "",
) -> list[list[DecodedSegment]]:
    """Decode several clips in one encoder pass and one greedy decoder loop (CTranslate2 batches).

    Each clip gets exactly what it would get alone: the window is the same 10 s for every clip, the
    prompt is the same length (no padding in the decoder), greedy decoding picks each clip's tokens from
    its own history only, and the token cap is applied per clip afterwards — the batch runs to the largest
    cap, and a clip that reaches its own cap is cut there and marked as a loop, as it would be alone.
    ``beam_size`` > 1 searches that many hypotheses per clip (each clip's beam is its own);
    ``prompt_text`` goes before the start-of-transcript as Whisper's "previous text" (``initial_prompt``).
    """
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.tokenizer import Tokenizer
    from faster_whisper.transcribe import get_suppressed_tokens

    if not audios:
        return []
    rate = model.feature_extractor.sampling_rate
    if not all(fits_window(len(audio), rate) for audio in audios):
        raise ValueError("audio longer than the short window")
    # Same features as transcribe(): log-mel of the clip itself (not of a padded 30 s), last frame dropped
    # as faster-whisper does, then zero-padded to the window.
    windows = [pad_or_trim(model.feature_extractor(audio)[..., :-1], WINDOW_FRAMES) for audio in audios]
    tokenizer = Tokenizer(
        model.hf_tokenizer, model.model.is_multilingual, task="transcribe",
        language=(language or "en") if model.model.is_multilingual else "en",
    )
    previous = tokenizer.encode(" " + prompt_text.strip()) if prompt_text.strip() else []
    prompt = [*([tokenizer.sot_prev, *previous] if previous else []), *tokenizer.sot_sequence,
              tokenizer.no_timestamps]
    caps = [token_cap(len(audio) / rate) for audio in audios]
    encoder_output = model.encode(np.stack(windows))
    results = model.model.generate(
        encoder_output,
        [prompt] * len(audios),
        beam_size=max(1, beam_size),
        patience=1.0,
        length_penalty=1.0,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        max_length=len(prompt) + max(caps),  # the cap counts new tokens only
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=list(get_suppressed_tokens(tokenizer, (-1,)) or ()),
        max_initial_timestamp_index=50,
    )
    return [_segments(tokenizer, result, cap) for result, cap in zip(results, caps, strict=True)]


def _segments(tokenizer: Any, result: Any, cap: int) -> list[DecodedSegment]:
    from faster_whisper.transcribe import get_compression_ratio

    sequence = list(result.sequences_ids[0])
    overran = len(sequence) > cap  # only in a batch whose largest cap is bigger than this clip's
    sequence = sequence[:cap]
    tokens = [t for t in sequence if t < tokenizer.eot]
    text = tokenizer.decode(tokens).strip()
    seq_len = len(sequence)
    avg_logprob = float(result.scores[0]) * seq_len / (seq_len + 1)
    if not text:
        return []
    # A decode that ran into the cap is a loop ("Beep Beep Beep Be" on a tone): mark it as one, so the
    # filter's compression-ratio rule drops it like faster-whisper's own loops.
    looped = overran or seq_len >= cap or (
        result.no_speech_prob > LOOP_NO_SPEECH and _repeats(text) >= LOOP_REPEATS
    )
    ratio = float("inf") if looped else get_compression_ratio(text)
    return [DecodedSegment(" " + text, float(result.no_speech_prob), avg_logprob, ratio)]


def _repeats(text: str) -> int:
    """Longest run of the same word (case and punctuation ignored)."""
    words = [w.strip(".,!?;:").lower() for w in text.split()]
    best = run = 0
    for i, word in enumerate(words):
        run = run + 1 if i and word and word == words[i - 1] else 1
        best = max(best, run)
    return best
