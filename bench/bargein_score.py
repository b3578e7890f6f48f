"""Judging barge-in trials, as /work/shared/design.md "Barge-in: what is measured" defines it. Pure.

- stop latency: caller speech onset → end of the last agent frame played in the playback run that was going
  at onset (what the caller heard, not what the server decided);
- false interruption: the agent gave up its turn (cut its sentence or started a new reply) because of a
  backchannel, noise, a tone or its own echo;
- hiccup: the agent paused (≤ 500 ms of no audio) and carried on with the same sentence — counted apart;
  a longer pause that still carries on is a ``long pause`` (neither a hiccup nor a false interruption);
- recall: real interruptions where the agent stopped and then answered what the caller said (at least
  half of the spoken words were recognised).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench.common import ratio, summary

from sdr_agent.audio.mulaw import ulaw_to_pcm
from sdr_agent.sim.call_record import FRAME_MS
from sdr_agent.voice.backchannel import normalise_words

HICCUP_MAX_MS = 500.0
UNDERSTOOD_SHARE = 0.5
PAUSE_LIMIT_MS = 300.0  # targets: a backchannel or a sound costs no heard pause longer than this
FULL_LEVEL_BY_MS = 700.0  # ... and the agent is back to full level this soon after the onset
YIELD_DB = 10.0  # yielding = the caller hears the agent at least this much quieter (or silent)
FULL_DB = 3.0  # back to full level = within this of what it would have been
VOICED_RMS = 300.0  # reference frames quieter than this (pauses between words) say nothing about level


@dataclass(frozen=True, slots=True)
class TrialOutcome:
    label: str
    detector: str
    snr_db: float
    kind: str
    gave_up: bool  # the agent cut its turn or started a new reply
    cut_before_onset: bool  # ... already before the stimulus (line noise alone did it)
    stop_latency_ms: float | None
    answered: bool
    understood: bool
    longest_pause_ms: float  # longest silence in agent audio after onset while the turn carried on
    stimulus_id: str = ""
    voice: str = ""
    yield_ms: float | None = None  # onset → first frame heard ≥ 10 dB quieter than undisturbed, or silence
    full_level_ms: float | None = 0.0  # onset → back to full level (0: never yielded; None: never came back)
    clears: int = 0
    replied_to: str = ""  # what the agent answered (the recogniser's words), for reading failures
    trail: str = ""  # the barge-in decisions, "ms after onset: event", for reading failures

    @property
    def carried_on_unheard(self) -> bool:
        """Backchannel / non-speech target: no pause > 300 ms, no clear, full level again within 700 ms."""
        if self.gave_up or self.clears or self.longest_pause_ms > PAUSE_LIMIT_MS:
            return False
        if self.label == "backchannel":
            return self.full_level_ms is not None and self.full_level_ms <= FULL_LEVEL_BY_MS
        return True

    @property
    def hiccup(self) -> bool:
        return not self.gave_up and 0 < self.longest_pause_ms <= HICCUP_MAX_MS

    @property
    def long_pause(self) -> bool:
        return not self.gave_up and self.longest_pause_ms > HICCUP_MAX_MS

    @property
    def recalled(self) -> bool:
        return self.gave_up and not self.cut_before_onset and self.answered and self.understood

    @property
    def failed(self) -> bool:
        """Missed an interruption, or gave up the turn for anything else."""
        return not self.recalled if self.label == "interruption" else self.gave_up


def word_share(truth: str, heard: str) -> float:
    """Share of the spoken words found in what was recognised."""
    wanted = normalise_words(truth)
    if not wanted:
        return 0.0
    got = set(normalise_words(heard))
    return sum(1 for word in wanted if word in got) / len(wanted)


def playback_stop_ms(played_ticks: Iterable[int], onset_tick: int) -> float | None:
    """Onset → end of the last frame of the unbroken playback run going at onset (None: nothing was
    playing at onset)."""
    ticks = set(played_ticks)
    if onset_tick not in ticks and onset_tick - 1 not in ticks:
        return None
    last = onset_tick if onset_tick in ticks else onset_tick - 1
    while last + 1 in ticks:
        last += 1
    return float(max(0, (last + 1 - onset_tick) * FRAME_MS))


def pauses_after(played_ticks: Iterable[int], start_tick: int, end_tick: int) -> list[tuple[int, int]]:
    """(first silent tick, silent ticks) for every stretch without agent audio that starts at or after
    ``start_tick`` and is followed by audio again before ``end_tick``."""
    ticks = sorted(t for t in played_ticks if t <= end_tick)
    gaps: list[tuple[int, int]] = []
    for before, after in itertools.pairwise(ticks):
        if after - before > 1 and before + 1 >= start_tick:
            gaps.append((before + 1, after - before - 1))
    return gaps


def _rms(ulaw: bytes) -> float:
    pcm = ulaw_to_pcm(ulaw).astype(np.float64)
    return float(np.sqrt(np.mean(pcm * pcm))) if len(pcm) else 0.0


def heard_levels(
    played: Mapping[int, bytes], reference: Sequence[bytes], onset_tick: int, end_tick: int
) -> tuple[float | None, float | None]:
    """(yield ms, full level ms) after the onset, comparing each heard frame with the same frame of the
    undisturbed agent audio (``reference``: frames in playing order; pauses delay frames but never reorder
    them, and a clear ends the comparison)."""
    ticks = sorted(t for t in played if t <= end_tick)
    order = {tick: index for index, tick in enumerate(ticks)}
    yielded: int | None = None
    for tick in range(onset_tick, end_tick + 1):
        if tick not in played:
            yielded = tick  # silence is the strongest yield
            break
        index = order[tick]
        if index >= len(reference):
            break
        want = _rms(reference[index])
        if want >= VOICED_RMS and _rms(played[tick]) <= want * 10 ** (-YIELD_DB / 20):
            yielded = tick
            break
    if yielded is None:
        return None, 0.0
    for tick in ticks:
        if tick <= yielded:
            continue
        index = order[tick]
        if index >= len(reference):
            break
        want = _rms(reference[index])
        if want >= VOICED_RMS and _rms(played[tick]) >= want * 10 ** (-FULL_DB / 20):
            return float((yielded - onset_tick) * FRAME_MS), float((tick - onset_tick) * FRAME_MS)
    return float((yielded - onset_tick) * FRAME_MS), None


def score_trial(
    *,
    label: str,
    detector: str,
    snr_db: float,
    kind: str,
    truth_text: str,
    onset_tick: int | None,
    end_tick: int,
    played: Mapping[int, bytes],
    responses: Sequence[tuple[int, str]],
    interruptions: int,
    interruptions_before_onset: int,
    stimulus_id: str = "",
    voice: str = "",
    reference: Sequence[bytes] = (),
    clear_ticks: Sequence[int] = (),
) -> TrialOutcome:
    if onset_tick is None:
        # The agent never became audible: nothing to judge, so nothing can count in the agent's favour.
        return TrialOutcome(label, detector, snr_db, kind, True, True, None, False, False, 0.0, stimulus_id)
    gave_up = interruptions > 0 or bool(responses)
    cut_before = interruptions_before_onset > 0
    latency = playback_stop_ms(played, onset_tick) if gave_up and not cut_before else None
    after_onset = [(tick, text) for tick, text in responses if tick >= onset_tick]
    answered = False
    understood = False
    if after_onset:
        reply_tick, text = after_onset[0]
        answered = any(tick > reply_tick for tick in played)
        understood = word_share(truth_text, text) >= UNDERSTOOD_SHARE
    carried_until = end_tick if not gave_up else onset_tick - 1
    pauses = pauses_after(played, onset_tick, carried_until)
    longest = max((length for _, length in pauses), default=0) * FRAME_MS
    yield_ms, full_ms = heard_levels(played, reference, onset_tick, end_tick) if reference else (None, 0.0)
    return TrialOutcome(
        label=label, detector=detector, snr_db=snr_db, kind=kind, gave_up=gave_up,
        cut_before_onset=cut_before, stop_latency_ms=latency, answered=answered, understood=understood,
        longest_pause_ms=float(longest), stimulus_id=stimulus_id, voice=voice, yield_ms=yield_ms,
        full_level_ms=full_ms, clears=sum(1 for t in clear_ticks if t >= onset_tick),
        replied_to=" | ".join(text for _, text in responses),
    )


def summarise(outcomes: Sequence[TrialOutcome], *, by_voice: bool = True) -> dict[str, Any]:
    """Per-class numbers for one detector (and, nested, per SNR and per caller voice)."""
    out: dict[str, Any] = {}
    voices = sorted({o.voice for o in outcomes if o.voice})
    if by_voice and voices:
        out["by_voice"] = {
            voice: summarise([o for o in outcomes if o.voice == voice], by_voice=False) for voice in voices
        }
    for label in ("interruption", "backchannel", "non_speech", "echo"):
        chosen = [o for o in outcomes if o.label == label]
        if not chosen:
            continue
        entry = _class_numbers(label, chosen)
        entry["by_snr_db"] = {
            str(snr): _class_numbers(label, [o for o in chosen if o.snr_db == snr])
            for snr in sorted({o.snr_db for o in chosen}, reverse=True)
        }
        if label == "non_speech":
            entry["false_interrupts_by_kind"] = {
                kind: sum(1 for o in chosen if o.kind == kind and o.gave_up)
                for kind in sorted({o.kind for o in chosen})
            }
        out[label] = entry
    return out


def _class_numbers(label: str, chosen: Sequence[TrialOutcome]) -> dict[str, Any]:
    n = len(chosen)
    if label == "interruption":
        latencies = [o.stop_latency_ms for o in chosen if o.recalled and o.stop_latency_ms is not None]
        yields = [o.yield_ms for o in chosen if o.yield_ms is not None and not o.cut_before_onset]
        return {
            "trials": n,
            "recall": ratio(sum(o.recalled for o in chosen), n),
            "yield_latency_ms": summary(yields),
            "stopped": ratio(sum(o.gave_up and not o.cut_before_onset for o in chosen), n),
            "answered": ratio(sum(o.answered for o in chosen), n),
            "cut_before_onset": sum(o.cut_before_onset for o in chosen),
            "stop_latency_ms": summary(latencies),
        }
    return {
        "trials": n,
        "false_interrupt_rate": ratio(sum(o.gave_up for o in chosen), n),
        "hiccup_rate": ratio(sum(o.hiccup for o in chosen), n),
        "long_pause_rate": ratio(sum(o.long_pause for o in chosen), n),
        "cut_before_onset": sum(o.cut_before_onset for o in chosen),
        "carried_on_unheard_rate": ratio(sum(o.carried_on_unheard for o in chosen), n),
        "pause_over_300ms_rate": ratio(sum(o.longest_pause_ms > PAUSE_LIMIT_MS for o in chosen), n),
        "clear_rate": ratio(sum(o.clears > 0 for o in chosen), n),
        "full_level_ms": summary([o.full_level_ms for o in chosen if o.full_level_ms]),
    }
