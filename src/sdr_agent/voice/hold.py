"""A barge-in hold — the agent yielded at a caller's sound and is deciding what it is — and the cues about the
sound's place in the conversation that the decision reads (``voice/interruption.py``)."""

from __future__ import annotations

from sdr_agent.voice.agent_turn import AgentTurn
from sdr_agent.voice.backchannel import normalise_words
from sdr_agent.voice.caller_turn import Utterance

# People backchannel into someone's speech, not into its first second: a voice that starts that early in a
# reply and goes on is the caller who had not finished (the agent answered a mid-sentence pause, "Could you
# send me ... the pricing by email?"). It is never presumed a backchannel, and silences the agent once it has
# lasted EARLY_SILENT_MS (an echo burst or a click is shorter; the silent path still tells a voice that goes
# on from an echo that dies with the agent).
EARLY_REPLY_S = 1.0


class Hold:
    """The agent yielded because the caller started making a sound; deciding what the sound is."""

    def __init__(self, onset_at: float, paused_at: float, audible_until: float) -> None:
        self.onset_at = onset_at
        self.paused_at = paused_at  # when the agent yielded (ducked, or paused for the comparison detectors)
        self.audible_until = audible_until  # full-level audio already at Twilio plays until then
        self.silent_at: float | None = None  # when sending stopped (a voice that kept going)
        self.confirmed = False  # energy + VAD sustained for the seed's minimum duration
        self.utterance: Utterance | None = None
        self.earlier: Utterance | None = None  # the part before a short pause, when holds were merged
        self.quiet_ms = 0.0  # VAD pause running now
        self.ended_at: float | None = None  # the sound stopped (a pause of end_pause_ms)
        self.presumed_at: float | None = None  # still voiced at backchannel_max_ms, no stop words: full level
        self.presume_again = True  # False when this continues a sound already presumed a backchannel
        self.levels_db: list[float] = []  # frame levels since the onset, for the syllable count
        self.voiced_while_silent = 0  # voiced frames heard once the agent's echo had died down


_QUESTION_WORDS = frozenset({"how", "what", "why", "when", "where", "who", "which", "can", "could", "is",
                             "are", "do", "does", "will", "would"})


def is_short_question(text: str) -> bool:
    """A short sound whose words are a real question ("How much?"): too short for the duration rule."""
    words = normalise_words(text)
    return len(words) >= 2 and words[0] in _QUESTION_WORDS and text.rstrip().endswith("?")


def early_in_a_reply(turn: AgentTurn, at: float) -> bool:
    """``at`` is before, or within the first ``EARLY_REPLY_S`` of, a reply to the caller (not an opening or a
    re-prompt)."""
    if turn.caller_end_at is None:
        return False
    started = turn.first_audio_at
    return started is None or at - started <= EARLY_REPLY_S
