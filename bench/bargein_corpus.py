"""The labelled barge-in corpus: what a caller does while the agent speaks, generated reproducibly.

Classes (what the agent should do):
- ``interruption``: a real interruption ("wait, how much is it?") — stop within a syllable, then answer;
- ``backchannel``: "uh-huh", "yeah", "mm-hmm", "okay", "right" — keep talking;
- ``non_speech``: noise bursts, clicks, 1 kHz / 440 Hz tones, DTMF, 60 Hz hum, coughs — keep talking;
- ``echo``: nothing from the caller, but the agent's own audio leaks back at −15…−25 dB after 100–250 ms —
  keep talking.

Speech is rendered once in the caller voices of ``bench/callers.py`` (hibari shifted in speed and pitch,
espeak-ng), never the agent's own voice, band-passed like a phone line (300-3400 Hz), and every clip gets a
seeded gain; backchannels are real-length (600-830 ms, see ``real_length``). Each stimulus is placed on a
caller line with pink background noise at a given SNR (stimulus active level over noise level; for echo,
the reference speech level over noise). Everything random comes from one seed, so the corpus is identical
run to run. Pure functions except ``render_speech`` (which runs the TTS).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

import numpy as np
from bench.callers import band_pass
from numpy.typing import NDArray

from sdr_agent.audio.resample import resample
from sdr_agent.demo.scenario import trim_silence
from sdr_agent.engines.base import TextToSpeech

T = TypeVar("T")
RATE = 8000
SEED = 20240917
REFERENCE_DBFS = -20.0  # active level of telephone speech
GAIN_JITTER_DB = 3.0
SNRS_DB = (30.0, 20.0, 15.0)  # quiet line, office, street

StimulusClass = Literal["interruption", "backchannel", "non_speech", "echo"]
CLASSES: tuple[StimulusClass, ...] = ("interruption", "backchannel", "non_speech", "echo")

INTERRUPTIONS = ("Wait, how much is it?", "Sorry, can I ask something?", "Stop, that's not what I need.",
                 "Hold on, who is this?", "Stop, please.")
# People's backchannels run 600-830 ms ("mm-hmm", "right, right"); the TTS says single ones in 300-600 ms,
# so short clips are lengthened (``real_length``) and two-word ones are in the set.
BACKCHANNELS = ("Uh-huh.", "Yeah.", "Mm-hmm.", "Okay.", "Right.", "Right, right.", "Yeah, yeah.",
                "Mm-hmm, sure.")
BACKCHANNEL_MIN_MS = 600.0
BACKCHANNEL_MAX_MS = 830.0
MAX_STRETCH = 1.6
NON_SPEECH = ("noise_burst", "clicks", "tone_1khz", "tone_440hz", "dtmf", "hum_60hz", "cough")


@dataclass(frozen=True, slots=True)
class Voice:
    name: str
    speed: float  # hibari speaking rate
    pitch: float  # tape-style shift: frequencies and tempo scaled together


VOICES = (Voice("base", 1.0, 1.0), Voice("fast-low", 1.15, 0.88), Voice("slow-high", 0.9, 1.14))


def real_length(pcm: NDArray[np.int16], min_ms: float = BACKCHANNEL_MIN_MS,
                max_ms: float = BACKCHANNEL_MAX_MS) -> NDArray[np.int16]:
    """A backchannel as long as people say them, ``min_ms``..``max_ms`` (tape-style: slowed like a
    drawn-out "mm-hmm" by at most ``MAX_STRETCH``, or sped up)."""
    ms = 1000.0 * len(pcm) / RATE
    if len(pcm) == 0 or min_ms <= ms <= max_ms:
        return pcm
    ratio = min(MAX_STRETCH, min_ms / ms) if ms < min_ms else max_ms / ms
    return resample(pcm, RATE, round(RATE * ratio))


@dataclass(frozen=True, slots=True)
class Stimulus:
    """One labelled trial input. ``pcm`` starts at the onset (speech is trimmed); empty for echo."""

    stimulus_id: str
    label: StimulusClass
    kind: str  # the sentence, the backchannel, the non-speech kind, or "echo"
    snr_db: float
    pcm: NDArray[np.int16] = field(repr=False)
    voice: str = ""
    gain_db: float = 0.0
    echo_attenuation_db: float = 0.0
    echo_delay_ms: float = 0.0
    noise_seed: int = 0

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.pcm) / RATE

    @property
    def text(self) -> str:
        return self.kind if self.label in ("interruption", "backchannel") else ""


# ------------------------------------------------------------------ levels
def dbfs_to_rms(dbfs: float) -> float:
    return 32767.0 * 10 ** (dbfs / 20.0)


def active_rms(pcm: NDArray[np.generic], frame: int = 160, floor_db: float = -25.0) -> float:
    """RMS over the frames within ``floor_db`` of the loudest one (the audible part of a clip)."""
    x = np.asarray(pcm, dtype=np.float64)
    if len(x) == 0:
        return 0.0
    frames = [x[i : i + frame] for i in range(0, len(x), frame)]
    energies = np.array([float(np.mean(f**2)) for f in frames])
    loud = energies >= energies.max() * 10 ** (floor_db / 10.0)
    return float(np.sqrt(energies[loud].mean())) if loud.any() else 0.0


def scale_to(pcm: NDArray[np.float64], rms: float) -> NDArray[np.float64]:
    current = active_rms(pcm)
    return pcm * (rms / current) if current > 0 else pcm


def to_pcm16(x: NDArray[np.float64]) -> NDArray[np.int16]:
    return np.asarray(np.clip(np.round(x), -32768, 32767), dtype=np.int16)


def pink_noise(n: int, rms: float, rng: np.random.Generator) -> NDArray[np.float64]:
    """Background noise with a 1/f spectrum (rooms and streets sound like this, not like white noise)."""
    if n <= 0:
        return np.zeros(0)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / RATE)
    spectrum[1:] /= np.sqrt(freqs[1:] / freqs[1])
    spectrum[0] = 0.0
    noise = np.fft.irfft(spectrum, n)
    current = float(np.sqrt(np.mean(noise**2))) or 1.0
    return noise * (rms / current)


def fade(x: NDArray[np.float64], ms: float = 5.0) -> NDArray[np.float64]:
    n = min(len(x) // 2, int(RATE * ms / 1000))
    if n:
        ramp = np.linspace(0.0, 1.0, n)
        x = x.copy()
        x[:n] *= ramp
        x[-n:] *= ramp[::-1]
    return x


# ------------------------------------------------------------------ non-speech sounds (8 kHz float)
def _t(ms: float) -> NDArray[np.float64]:
    return np.arange(int(RATE * ms / 1000)) / RATE


def noise_burst(rng: np.random.Generator) -> NDArray[np.float64]:
    return fade(rng.standard_normal(int(RATE * 0.3)), 10.0)


def clicks(rng: np.random.Generator) -> NDArray[np.float64]:
    out = np.zeros(int(RATE * 0.4))
    for start_ms in (0.0, 130.0, 260.0):
        start = int(RATE * start_ms / 1000)
        n = int(RATE * 0.004)
        out[start : start + n] += rng.standard_normal(n) * np.exp(-np.arange(n) / 6.0)
    return out


def tone(freq: float, ms: float) -> NDArray[np.float64]:
    return fade(np.sin(2 * np.pi * freq * _t(ms)), 10.0)


def dtmf(rng: np.random.Generator) -> NDArray[np.float64]:
    pairs = {"5": (770.0, 1336.0), "9": (852.0, 1477.0), "#": (941.0, 1477.0)}
    parts: list[NDArray[np.float64]] = []
    for digit in rng.choice(list(pairs), size=2):
        low, high = pairs[str(digit)]
        t = _t(110.0)
        pair = np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t)
        parts += [fade(pair, 3.0), np.zeros(int(RATE * 0.08))]
    return np.concatenate(parts)


def hum(ms: float = 1500.0) -> NDArray[np.float64]:
    t = _t(ms)
    wave = sum(np.sin(2 * np.pi * 60.0 * k * t) / k for k in (1, 2, 3, 4, 5))
    return fade(np.asarray(wave, dtype=np.float64), 30.0)


def cough(rng: np.random.Generator) -> NDArray[np.float64]:
    """Two bursts of band-limited noise, sharp attack and fast decay, like a short cough."""
    parts: list[NDArray[np.float64]] = []
    for _ in range(2):
        n = int(RATE * 0.22)
        spectrum = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1.0 / RATE)
        spectrum[(freqs < 300) | (freqs > 2500)] = 0.0
        burst = np.fft.irfft(spectrum, n)
        envelope = np.minimum(np.arange(n) / (RATE * 0.008), 1.0) * np.exp(-np.arange(n) / (RATE * 0.06))
        parts += [burst * envelope, np.zeros(int(RATE * 0.15))]
    return np.concatenate(parts)


def non_speech_sound(kind: str, rng: np.random.Generator) -> NDArray[np.float64]:
    makers: dict[str, Callable[[], NDArray[np.float64]]] = {
        "noise_burst": lambda: noise_burst(rng),
        "clicks": lambda: clicks(rng),
        "tone_1khz": lambda: tone(1000.0, 600.0),
        "tone_440hz": lambda: tone(440.0, 800.0),
        "dtmf": lambda: dtmf(rng),
        "hum_60hz": lambda: hum(),
        "cough": lambda: cough(rng),
    }
    if kind not in makers:
        raise ValueError(f"unknown non-speech kind {kind!r}; known: {', '.join(makers)}")
    return makers[kind]()


# ------------------------------------------------------------------ speech
async def render_speech(
    make_tts: Callable[[float], TextToSpeech], texts: Sequence[str], voices: Sequence[Voice] = VOICES
) -> dict[tuple[str, str], NDArray[np.int16]]:
    """(text, voice name) → 8 kHz speech trimmed to its onset. ``make_tts(speed)`` builds the TTS."""
    out: dict[tuple[str, str], NDArray[np.int16]] = {}
    for voice in voices:
        tts = make_tts(voice.speed)
        for text in texts:
            chunks: list[NDArray[np.int16]] = []
            rate = RATE
            async for chunk in tts.synthesize(text):
                rate = chunk.sample_rate
                chunks.append(np.frombuffer(chunk.data, dtype="<i2").astype(np.int16))
            if not chunks:
                raise ValueError(f"the TTS produced no audio for {text!r}")
            # Declaring the audio faster than it is shifts pitch and tempo together, like a tape.
            pcm = resample(np.concatenate(chunks), round(rate * voice.pitch), RATE)
            trimmed = trim_silence(pcm)
            if len(trimmed) == 0:
                raise ValueError(f"the TTS produced only silence for {text!r}")
            out[(text, voice.name)] = trimmed
    return out


# ------------------------------------------------------------------ the corpus
@dataclass(frozen=True, slots=True)
class CorpusPlan:
    """How many of each; a class's factorial design is subsampled (seeded, evenly over SNRs) to its count."""

    interruptions: int = 27
    backchannels: int = 30
    non_speech: int = 21
    echo: int = 9
    snrs_db: tuple[float, ...] = SNRS_DB
    seed: int = SEED

    def count(self, label: StimulusClass) -> int:
        return {"interruption": self.interruptions, "backchannel": self.backchannels,
                "non_speech": self.non_speech, "echo": self.echo}[label]


def _pick(items: list[T], count: int, rng: random.Random) -> list[T]:
    """``count`` items spread evenly over the design (every SNR and every kind get their share)."""
    if count <= 0:
        return []
    if count >= len(items):
        return items
    step = len(items) / count
    offset = rng.random() * step
    return [items[int(offset + i * step)] for i in range(count)]


def build_corpus(
    plan: CorpusPlan, speech: dict[tuple[str, str], NDArray[np.int16]], *,
    interruptions: Sequence[str] = INTERRUPTIONS, backchannels: Sequence[str] = BACKCHANNELS,
    prefix: str = "",
) -> list[Stimulus]:
    """The labelled stimuli. ``speech`` comes from ``render_speech`` for ``interruptions`` + ``backchannels``;
    ``prefix`` keeps the ids of a second (held-out) corpus apart from the first."""
    rng = random.Random(plan.seed)
    np_rng = np.random.default_rng(plan.seed)
    reference = dbfs_to_rms(REFERENCE_DBFS)
    stimuli: list[Stimulus] = []
    voice_names = sorted({voice for _, voice in speech}) or [v.name for v in VOICES]
    spoken: tuple[tuple[StimulusClass, tuple[str, ...]], ...] = (
        ("interruption", tuple(interruptions)), ("backchannel", tuple(backchannels))
    )
    for label, texts in spoken:
        design = [item for item in itertools.product(plan.snrs_db, texts, voice_names) if item[1:] in speech]
        rng.shuffle(design)
        design.sort(key=lambda item: item[0])  # grouped by SNR, shuffled inside: _pick spreads evenly
        for snr, text, voice in _pick(design, plan.count(label), rng):
            gain = rng.uniform(-GAIN_JITTER_DB, GAIN_JITTER_DB)
            raw = speech[(text, voice)]
            clip = band_pass((real_length(raw) if label == "backchannel" else raw).astype(np.float64))
            pcm = to_pcm16(scale_to(clip, reference * 10 ** (gain / 20)))
            stimuli.append(Stimulus(
                f"{prefix}{label}-{len(stimuli):03d}", label, text, snr, pcm,
                voice=voice, gain_db=round(gain, 2), noise_seed=rng.randrange(2**31),
            ))
    design_ns = list(itertools.product(plan.snrs_db, NON_SPEECH))
    rng.shuffle(design_ns)
    design_ns.sort(key=lambda item: item[0])
    for snr, kind in _pick(design_ns, plan.non_speech, rng):
        gain = rng.uniform(-GAIN_JITTER_DB, GAIN_JITTER_DB)
        sound = non_speech_sound(kind, np_rng)
        pcm = to_pcm16(scale_to(sound, reference * 10 ** (gain / 20)))
        stimuli.append(Stimulus(
            f"{prefix}non_speech-{len(stimuli):03d}", "non_speech", kind, snr, pcm,
            gain_db=round(gain, 2), noise_seed=rng.randrange(2**31),
        ))
    snrs = list(plan.snrs_db)
    for index in range(plan.echo):
        stimuli.append(Stimulus(
            f"{prefix}echo-{len(stimuli):03d}", "echo", "echo", snrs[index % len(snrs)],
            np.zeros(0, dtype=np.int16),
            echo_attenuation_db=round(rng.uniform(15.0, 25.0), 1), echo_delay_ms=round(rng.uniform(100, 250)),
            noise_seed=rng.randrange(2**31),
        ))
    return stimuli


def line_noise(stimulus: Stimulus, samples: int) -> NDArray[np.float64]:
    """The caller line's background noise for this trial (seeded by the stimulus)."""
    level = active_rms(stimulus.pcm) if len(stimulus.pcm) else dbfs_to_rms(REFERENCE_DBFS)
    rng = np.random.default_rng(stimulus.noise_seed)
    return pink_noise(samples, level / 10 ** (stimulus.snr_db / 20), rng)
