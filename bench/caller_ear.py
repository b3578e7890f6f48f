"""Judging a call from what the caller heard (``SimulatedCall.heard_frames``), as shared/design.md
"Turn-taking: what is measured" defines it. Pure functions over heard frames and caller turns.

- reply latency: the caller's last voiced frame → the first voiced agent frame heard;
- gap inside a reply: a silence > 250 ms between two voiced agent frames of one reply (a reply is what the
  agent says between the end of one caller turn and the start of the next, up to a silence of 5 s, after
  which a re-prompt is a new turn);
- reply lost to a gap: the polite caller (who speaks after ~0.7 s of agent silence) started the next turn
  while the agent still had more of its reply to say — agent audio heard in the first second of that turn;
- cut-off: on an utterance with a mid-sentence pause, agent audio heard after the first part ended and
  before the caller finished.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

from sdr_agent.sim.call_record import FRAME_MS, HeardFrame, audible

GAP_MS = 250.0
LOST_WINDOW_MS = 1000.0
# A silence this long ends the reply: what follows is a new agent turn (the re-prompt after the caller's turn
# timeout), not part of the answer.
NEW_TURN_MS = 5000.0


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """What the caller said in one turn: complete question or an utterance with a mid-sentence pause."""

    label: str
    complete: bool
    first_part_ms: float = 0.0  # incomplete turns: length of the part before the pause


@dataclass(slots=True)
class ReplyJudgement:
    label: str
    complete: bool
    latency_ms: float | None = None
    gaps_ms: list[float] = field(default_factory=list)  # every silence > GAP_MS inside the reply
    longest_gap_ms: float = 0.0
    cut_off: bool = False
    lost_before: bool = False  # the previous reply was still going when this turn started


def voiced_times(frames: Sequence[HeardFrame]) -> list[float]:
    return [f.t_ms for f in frames if audible(f.audio)]


def judge_turns(
    frames: Sequence[HeardFrame], turns: Sequence[tuple[float, float]], plans: Sequence[TurnPlan],
    call_end_ms: float,
) -> list[ReplyJudgement]:
    """``turns``: (started_ms, ended_ms) of each caller speech turn, in order, matching ``plans``."""
    voiced = voiced_times(frames)
    out: list[ReplyJudgement] = []
    for index, ((start, end), plan) in enumerate(zip(turns, plans, strict=False)):
        judgement = ReplyJudgement(plan.label, plan.complete)
        next_start = turns[index + 1][0] if index + 1 < len(turns) else call_end_ms
        if not plan.complete:
            pause_from = start + plan.first_part_ms + FRAME_MS
            judgement.cut_off = any(pause_from <= t < end for t in voiced)
        lost_until = start + min(LOST_WINDOW_MS, plan.first_part_ms or LOST_WINDOW_MS)
        judgement.lost_before = index > 0 and any(start <= t < lost_until for t in voiced)
        reply = [t for t in voiced if end <= t < next_start]
        for i in range(1, len(reply)):
            if reply[i] - reply[i - 1] >= NEW_TURN_MS:
                reply = reply[:i]
                break
        if reply:
            judgement.latency_ms = reply[0] - end
            silences = [b - a - FRAME_MS for a, b in itertools.pairwise(reply)]
            judgement.gaps_ms = [round(s, 1) for s in silences if s > GAP_MS]
            judgement.longest_gap_ms = max(silences, default=0.0)
        out.append(judgement)
    return out
