"""The caller's ear: reply latency, gaps inside replies, cut-offs and replies lost, from heard frames only."""

from __future__ import annotations

import numpy as np
from bench.caller_ear import TurnPlan, judge_turns
from bench.callers import band_pass, phone_line

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.sim.call_record import HeardFrame

LOUD = pcm_to_ulaw((np.sin(np.arange(160) / 3) * 3000).astype(np.int16))
QUIET = pcm_to_ulaw(np.zeros(160, dtype=np.int16))


def frames(spans: list[tuple[float, float]], until_ms: float) -> list[HeardFrame]:
    """Agent audio loud inside ``spans`` (ms), silent frames elsewhere (the line keeps playing silence)."""
    return [HeardFrame(float(t), LOUD if any(a <= t < b for a, b in spans) else QUIET)
            for t in range(0, int(until_ms), 20)]


def test_latency_gaps_and_a_lost_reply_are_judged_from_what_was_heard() -> None:
    # Caller turn 1 ends at 1000; the reply starts at 1400, goes quiet for 800 ms at 2000, the caller
    # (politely, after 0.7 s) starts turn 2 at 2700, and the rest of the reply is heard at 2800.
    heard = frames([(1400, 2000), (2800, 3200), (4500, 5000)], 6000)
    judged = judge_turns(heard, [(0.0, 1000.0), (2700.0, 4000.0)],
                         [TurnPlan("q1", True), TurnPlan("q2", True)], 6000.0)
    assert judged[0].latency_ms == 400.0
    assert judged[0].gaps_ms == [] and judged[0].longest_gap_ms == 0.0  # the reply stops at the next turn
    assert judged[1].lost_before is True
    assert judged[1].latency_ms == 500.0


def test_a_gap_inside_a_reply_and_a_cut_off_mid_sentence() -> None:
    heard = frames([(1200, 1600), (1900, 2500), (2600, 3000)], 4000)
    judged = judge_turns(heard, [(0.0, 1000.0)], [TurnPlan("q", True)], 4000.0)
    assert judged[0].gaps_ms == [300.0] and judged[0].longest_gap_ms == 300.0  # 1600 → 1900
    cut = judge_turns(frames([(900, 1100)], 3000), [(0.0, 2000.0)],
                      [TurnPlan("pause", False, first_part_ms=700.0)], 3000.0)
    assert cut[0].cut_off is True
    polite = judge_turns(frames([(2300, 2600)], 3000), [(0.0, 2000.0)],
                         [TurnPlan("pause", False, first_part_ms=700.0)], 3000.0)
    assert polite[0].cut_off is False and polite[0].latency_ms == 300.0


def test_phone_line_band_limits_and_adds_noise() -> None:
    rate = 8000
    t = np.arange(rate) / rate
    low = (np.sin(2 * np.pi * 100 * t) * 8000).astype(np.int16)
    filtered = band_pass(low.astype(float))
    assert np.sqrt(np.mean(filtered**2)) < 0.1 * np.sqrt(np.mean(low.astype(float) ** 2))
    voice = (np.sin(2 * np.pi * 1000 * t) * 8000).astype(np.int16)
    noisy = phone_line(voice, 20.0, np.random.default_rng(1))
    assert noisy.dtype == np.int16 and len(noisy) == len(voice)
    assert not np.array_equal(noisy, phone_line(voice, None, np.random.default_rng(1)))


def test_a_reprompt_after_the_turn_timeout_is_not_a_gap_inside_the_reply() -> None:
    heard = frames([(1200, 2000), (9000, 9800)], 10000)
    judged = judge_turns(heard, [(0.0, 1000.0)], [TurnPlan("last", True)], 10000.0)
    assert judged[0].gaps_ms == []
