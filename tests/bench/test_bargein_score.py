"""Judging barge-in trials: recall, stop latency, false interruptions, hiccups (design.md definitions)."""

from __future__ import annotations

from typing import Any

from bench.bargein_score import pauses_after, playback_stop_ms, score_trial, summarise, word_share

FRAME = b"\x00" * 160


def played(*ranges: tuple[int, int]) -> dict[int, bytes]:
    return {tick: FRAME for start, end in ranges for tick in range(start, end)}


def judge(**overrides: Any) -> Any:
    args: dict[str, Any] = {
        "label": "backchannel", "detector": "layered", "snr_db": 20.0, "kind": "Yeah.", "truth_text": "Yeah.",
        "onset_tick": 100, "end_tick": 300, "played": played((0, 300)), "responses": [], "interruptions": 0,
        "interruptions_before_onset": 0,
    }
    args.update(overrides)
    return score_trial(**args)


def test_recalled_interruption_measures_the_last_frame_heard() -> None:
    outcome = judge(
        label="interruption", kind="Wait, how much is it?", truth_text="Wait, how much is it?",
        played=played((0, 106), (190, 240)), responses=[(180, "wait how much is it")], interruptions=1,
    )
    assert outcome.recalled and outcome.gave_up and outcome.answered and outcome.understood
    assert outcome.stop_latency_ms == 120.0  # ticks 100..105 still played after the onset at tick 100
    assert outcome.longest_pause_ms == 0.0


def test_interruption_answered_with_the_wrong_words_is_not_recalled() -> None:
    outcome = judge(label="interruption", truth_text="Sorry, can I ask something?",
                    played=played((0, 105), (200, 230)), responses=[(190, "thanks")], interruptions=1)
    assert outcome.gave_up and outcome.answered and not outcome.understood and not outcome.recalled


def test_missed_interruption_talks_straight_through() -> None:
    outcome = judge(label="interruption", truth_text="Stop, that's not what I need.")
    assert not outcome.gave_up and not outcome.recalled and outcome.stop_latency_ms is None


def test_backchannel_pause_then_same_sentence_is_a_hiccup_or_a_long_pause() -> None:
    short = judge(played=played((0, 110), (130, 300)))
    assert short.hiccup and not short.gave_up and short.longest_pause_ms == 400.0
    long = judge(played=played((0, 110), (140, 300)))
    assert long.long_pause and not long.hiccup and long.longest_pause_ms == 600.0
    clean = judge()
    assert not clean.hiccup and not clean.long_pause and not clean.gave_up


def test_giving_up_the_turn_is_a_false_interruption() -> None:
    cut = judge(played=played((0, 108)), interruptions=1)
    assert cut.gave_up and not cut.hiccup and cut.failed
    new_reply = judge(responses=[(150, "yeah")])
    assert new_reply.gave_up


def test_cut_before_the_stimulus_is_flagged_and_never_recalled() -> None:
    outcome = judge(label="interruption", played=played((0, 40), (150, 200)), responses=[(140, "wait")],
                    interruptions=1, interruptions_before_onset=1)
    assert outcome.cut_before_onset and not outcome.recalled and outcome.stop_latency_ms is None


def test_agent_never_audible_counts_against_the_detector() -> None:
    outcome = judge(onset_tick=None, played={})
    assert outcome.gave_up and outcome.cut_before_onset


def test_pause_and_stop_helpers() -> None:
    assert pauses_after([1, 2, 3, 7, 8, 20], start_tick=3, end_tick=20) == [(4, 3), (9, 11)]
    assert pauses_after([1, 2, 3, 7, 8, 20], start_tick=10, end_tick=20) == []
    assert playback_stop_ms([5, 6, 7, 8], onset_tick=6) == 60.0
    assert playback_stop_ms([5, 6], onset_tick=7) == 0.0  # the last frame had just ended
    assert playback_stop_ms([5, 6], onset_tick=20) is None
    assert word_share("Wait, how much is it?", "how much") == 0.4
    assert word_share("", "anything") == 0.0


def test_summary_per_class_and_snr() -> None:
    outcomes = [
        judge(label="interruption", truth_text="wait", played=played((0, 105), (160, 200)),
              responses=[(150, "wait")], interruptions=1, snr_db=30.0),
        judge(label="interruption", truth_text="wait", snr_db=15.0),
        judge(kind="Yeah."),
        judge(kind="Right.", interruptions=1),
        judge(label="non_speech", kind="tone_1khz", played=played((0, 105), (110, 300))),
    ]
    numbers = summarise(outcomes)
    assert numbers["interruption"]["recall"] == 0.5
    assert numbers["interruption"]["by_snr_db"]["30.0"]["recall"] == 1.0
    assert numbers["interruption"]["stop_latency_ms"]["n"] == 1
    assert numbers["backchannel"]["false_interrupt_rate"] == 0.5
    assert numbers["non_speech"]["hiccup_rate"] == 1.0
    assert numbers["non_speech"]["false_interrupts_by_kind"] == {"tone_1khz": 0}
    assert "echo" not in numbers
