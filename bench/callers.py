"""Caller voices that are not the agent's, on a degraded phone line — shared by the turn-taking benches.

The agent speaks with hibari "heart" at normal speed and pitch; a recogniser and a VAD tuned on that voice
are kinder to it than to a caller, so the benches never use it unaltered. Voices:
- ``hibari-low``: hibari heart, faster and tape-shifted down (×0.86);
- ``hibari-high``: hibari heart, slower and tape-shifted up (×1.16);
- ``espeak-us``: espeak-ng American English (formant synthesis: nothing like a neural voice);
- ``espeak-f``: espeak-ng British English with a female variant, slower.
(Only hibari's bundled voice is usable offline, so its "other voices" are speed/pitch changes.)

Phone path: 300–3400 Hz band-pass, μ-law round trip at 8 kHz, pink line noise at a given SNR.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from sdr_agent.audio.mulaw import pcm_to_ulaw, ulaw_to_pcm
from sdr_agent.audio.resample import resample
from sdr_agent.demo.scenario import trim_silence
from sdr_agent.engines.base import TextToSpeech

RATE = 8000


@dataclass(frozen=True, slots=True)
class CallerVoice:
    name: str
    engine: str  # "hibari" or "espeak"
    speed: float = 1.0  # hibari speaking rate, or espeak words per minute / 175
    pitch: float = 1.0  # hibari: tape shift; espeak: ignored (variant carries it)
    espeak_voice: str = ""


CALLER_VOICES: tuple[CallerVoice, ...] = (
    CallerVoice("hibari-low", "hibari", speed=1.1, pitch=0.86),
    CallerVoice("hibari-high", "hibari", speed=0.92, pitch=1.16),
    CallerVoice("espeak-us", "espeak", speed=1.0, espeak_voice="en-us"),
    CallerVoice("espeak-f", "espeak", speed=0.85, espeak_voice="en-gb-x-rp+f3"),
)


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def _espeak(text: str, voice: CallerVoice) -> NDArray[np.int16]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice.espeak_voice, "-s", str(round(175 * voice.speed)), "-w", str(path),
             text],
            check=True, capture_output=True, timeout=30,
        )
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.int16)
    return resample(pcm, rate, RATE)


async def _hibari(tts: TextToSpeech, text: str, voice: CallerVoice) -> NDArray[np.int16]:
    chunks: list[NDArray[np.int16]] = []
    rate = RATE
    async for chunk in tts.synthesize(text):
        rate = chunk.sample_rate
        chunks.append(np.frombuffer(chunk.data, dtype="<i2").astype(np.int16))
    if not chunks:
        raise ValueError(f"the TTS produced no audio for {text!r}")
    # Declaring the audio faster than it is shifts pitch and tempo together, like a tape.
    return resample(np.concatenate(chunks), round(rate * voice.pitch), RATE)


async def render(
    texts: Sequence[str], voices: Sequence[CallerVoice], make_hibari: object
) -> dict[tuple[str, str], NDArray[np.int16]]:
    """(text, voice name) → 8 kHz clean speech trimmed to its onset. ``make_hibari(speed)`` builds hibari."""
    out: dict[tuple[str, str], NDArray[np.int16]] = {}
    for voice in voices:
        tts = make_hibari(voice.speed) if voice.engine == "hibari" else None  # type: ignore[operator]
        for text in texts:
            if voice.engine == "espeak":
                if not espeak_available():
                    continue
                pcm = await asyncio.to_thread(_espeak, text, voice)
            else:
                pcm = await _hibari(tts, text, voice)
            trimmed = trim_silence(pcm)
            if len(trimmed):
                out[(text, voice.name)] = trimmed.astype(np.int16)
    return out


def band_pass(pcm: NDArray[np.float64], low: float = 300.0, high: float = 3400.0) -> NDArray[np.float64]:
    """A telephone channel's pass band (FFT brick wall with short cosine edges)."""
    n = len(pcm)
    if n == 0:
        return pcm
    spectrum = np.fft.rfft(pcm)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    rise = np.clip((freqs - low * 0.8) / (low * 0.4), 0, 1)
    gain = rise * np.clip((high * 1.1 - freqs) / (high * 0.2), 0, 1)
    return np.fft.irfft(spectrum * gain, n)


def pink_noise(n: int, rms_level: float, rng: np.random.Generator) -> NDArray[np.float64]:
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(white)
    spectrum /= np.sqrt(np.maximum(np.arange(len(spectrum)), 1))
    pink = np.fft.irfft(spectrum, n)
    level = float(np.sqrt(np.mean(pink**2))) or 1.0
    return pink * (rms_level / level)


def phone_line(pcm: NDArray[np.int16], snr_db: float | None, rng: np.random.Generator,
               level_dbfs: float = -20.0) -> NDArray[np.int16]:
    """Speech as it reaches the agent: band-passed, at a telephone level, line noise, μ-law."""
    x = band_pass(pcm.astype(np.float64))
    loud = np.sqrt(np.mean(x**2)) if len(x) else 0.0
    if loud > 0:
        x *= 32768.0 * 10 ** (level_dbfs / 20) / loud
    if snr_db is not None:
        x += pink_noise(len(x), 32768.0 * 10 ** ((level_dbfs - snr_db) / 20), rng)
    clipped = np.clip(x, -32768, 32767).astype(np.int16)
    return ulaw_to_pcm(pcm_to_ulaw(clipped))


def split_for_pause(
    sentence: NDArray[np.int16], fragment_ms: float
) -> tuple[NDArray[np.int16], NDArray[np.int16]]:
    """A whole sentence split where a caller pauses mid-sentence: at the quietest 20 ms near where its first
    words, said alone, end. Said alone, a fragment gets a sentence-final fall ("Could you send me." sounds
    finished to any listener); a person who pauses mid-sentence keeps the sentence's running intonation,
    which is what rendering the sentence in one go and cutting it gives. ``fragment_ms``: the fragment's
    length said alone (inside the sentence it is shorter: no final lengthening)."""
    frame = RATE // 50
    count = len(sentence) // frame
    levels = np.sqrt(np.mean(sentence[: count * frame].astype(np.float64).reshape(count, frame) ** 2, axis=1))
    lo = max(1, int(0.6 * fragment_ms / 20))
    hi = min(count - 1, max(lo + 1, int(1.05 * fragment_ms / 20)))
    window = levels[lo:hi]
    # The latest near-quiet frame, not the quietest: a comma pause earlier in the fragment ("last year, but")
    # is quieter than the word boundary after its last word, and cutting there would change what was said.
    quiet = np.flatnonzero(window <= 2.0 * float(window.min()) + 50.0)
    cut = (lo + int(quiet[-1])) * frame
    return sentence[:cut], sentence[cut:]

