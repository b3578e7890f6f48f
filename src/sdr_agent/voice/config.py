"""Per-call configuration (settings merged with the agent's conversation_config) and dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdr_agent.dialogue.base import Dialogue
from sdr_agent.engines.base import SpeechToText, TextToSpeech, TurnDetector, VoiceActivityDetector
from sdr_agent.settings import Settings
from sdr_agent.voice.bargein import BargeInConfig
from sdr_agent.voice.end_of_turn import TIMINGS, Eagerness, EndOfTurnTiming, eagerness_of
from sdr_agent.voice.energy import EnergyConfig
from sdr_agent.voice.ports import CallControl, CallRecordSink

# Words that make a sound over the agent an interruption as soon as they are recognised (explicit stops, and
# the openers people use to take the turn); any other word never does (voice/interruption.py).
DEFAULT_STOP_PHRASES = ("stop", "wait", "hold on", "hang on", "excuse me", "sorry", "one second",
                        "one moment", "shut up", "not interested", "no no", "actually", "what about",
                        "how about", "how much", "question", "can i ask", "who is this", "who's this",
                        "no thanks", "no thank you", "not now", "call me later", "listen")


DEFAULT_FILLERS = ("Sure.", "Let me check that for you.", "Just a moment.")


@dataclass
class SessionDeps:
    stt: SpeechToText
    tts: TextToSpeech
    vad: VoiceActivityDetector
    dialogue: Dialogue
    sink: CallRecordSink
    control: CallControl | None = None
    turn_detector: TurnDetector | None = None  # acoustic end of turn (Smart Turn v3); None: words and silence


@dataclass
class SessionConfig:
    interrupt_enabled: bool = True
    first_message_interruptible: bool = True
    end_silence_ms: float = 500.0
    speculative_ms: float = 150.0  # finalize STT early so the text is ready when the turn ends
    # Silence that ends a caller turn, by what its words say (voice/end_of_turn.py); None: the "normal"
    # eagerness around end_silence_ms.
    end_of_turn: EndOfTurnTiming | None = None
    hold_finalize_ms: float = 150.0
    hold_quiet_resume_ms: float = 150.0  # an unconfirmed onset followed by this much quiet resumes at once
    final_timeout_s: float = 3.0
    turn_timeout_s: float = 7.0
    max_duration_s: float = 600.0
    lead_s: float = 0.12
    mark_grace_s: float = 2.0
    voice: str | None = None
    backchannels: list[str] = field(default_factory=list)
    # Backchannel or interruption (voice/interruption.py); per agent under conversation_config "turn".
    duck_db: float = 14.0  # how much quieter the agent gets at a caller's onset
    end_pause_ms: float = 80.0  # a pause (VAD or noise-floor quiet) this long ends a backchannel
    # Still voiced this long, no stop words: presumed a backchannel, back to full level (heard ~80-140 ms
    # later, so "mm-hmm, sure" is carried through at full level within 700 ms of its onset).
    backchannel_max_ms: float = 500.0
    interrupt_ms: float = 1000.0  # still voiced this long: an interruption (clear, answer)
    merge_gap_ms: float = 400.0  # a new onset this soon after a let-pass sound continues it
    # A short sound keeps the agent ducked at most this long for its words: late stop words still stop the
    # agent, so waiting longer only delays full level after "uh-huh" (heard ~80 ms after the decision).
    words_wait_ms: float = 450.0
    stop_phrases: list[str] = field(default_factory=lambda: list(DEFAULT_STOP_PHRASES))
    # Said when a reply has no words yet this long after the caller's turn ended (voice/speaker.py).
    fillers: list[str] = field(default_factory=list)
    filler_after_ms: float = 150.0
    bargein: BargeInConfig = field(default_factory=BargeInConfig)
    audio_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.end_of_turn is None:
            self.end_of_turn = around_end_silence(TIMINGS[Eagerness.NORMAL], self.end_silence_ms)


def _get(config: dict[str, Any], path: str, default: Any) -> Any:
    node: Any = config
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node or node[key] is None:
            return default
        node = node[key]
    return node


def session_config(settings: Settings, conversation_config: dict[str, Any]) -> SessionConfig:
    """Settings give the defaults; the agent's ElevenLabs-shaped conversation_config overrides them."""
    b = settings.bargein
    turn_timeout = float(_get(conversation_config, "turn.turn_timeout", settings.turn.turn_timeout_s))
    end_silence = float(_get(conversation_config, "turn.end_silence_ms", settings.turn.end_silence_ms))
    return SessionConfig(
        interrupt_enabled=bool(_get(conversation_config, "turn.interrupt_enabled", True)),
        first_message_interruptible=not bool(
            _get(conversation_config, "agent.disable_first_message_interruptions", False)
        ),
        end_silence_ms=end_silence,
        speculative_ms=min(150.0, end_silence / 2),
        end_of_turn=_end_of_turn(conversation_config, end_silence),
        turn_timeout_s=turn_timeout if turn_timeout > 0 else 3600.0,
        max_duration_s=float(
            _get(conversation_config, "conversation.max_duration_seconds", settings.turn.max_duration_s)
        ),
        lead_s=settings.turn.playback_lead_ms / 1000.0,
        voice=_get(conversation_config, "tts.voice_id", None) or settings.tts.voice,
        backchannels=list(_get(conversation_config, "turn.backchannels", b.backchannels)),
        duck_db=float(_get(conversation_config, "turn.duck_db", 14.0)),
        backchannel_max_ms=float(_get(conversation_config, "turn.backchannel_max_ms", 500.0)),
        interrupt_ms=float(_get(conversation_config, "turn.interrupt_ms", 1000.0)),
        stop_phrases=list(_get(conversation_config, "turn.stop_phrases", DEFAULT_STOP_PHRASES)),
        fillers=list(_get(conversation_config, "turn.fillers", DEFAULT_FILLERS)),
        bargein=BargeInConfig(
            energy=EnergyConfig(
                factor=b.energy_factor,
                min_energy=b.min_energy,
                min_high_frames=b.min_high_frames,
                min_speech_ms=b.min_speech_ms,
                debounce_ms=b.debounce_ms,
                baseline_alpha=b.baseline_alpha,
            ),
            vad_confirm=b.vad_confirm,
            mode=b.mode,
            vad_threshold=settings.vad.threshold,
        ),
        audio_dir=settings.audio_dir,
    )


def _end_of_turn(conversation_config: dict[str, Any], end_silence_ms: float) -> EndOfTurnTiming:
    """The agent's eagerness picks the timings; an explicit ``turn.end_silence_ms`` stays the default wait."""
    timing = TIMINGS[eagerness_of(_get(conversation_config, "turn.turn_eagerness", "normal"))]
    if _get(conversation_config, "turn.end_silence_ms", None) is None:
        return timing
    return around_end_silence(timing, end_silence_ms)


def around_end_silence(timing: EndOfTurnTiming, end_silence_ms: float) -> EndOfTurnTiming:
    """An explicit end-of-turn silence stays the wait when the words tell nothing."""
    return EndOfTurnTiming(
        complete_ms=min(timing.complete_ms, end_silence_ms),
        default_ms=end_silence_ms,
        incomplete_ms=max(timing.incomplete_ms, end_silence_ms),
        unfinished_p=timing.unfinished_p,
        doubtful_ms=max(timing.doubtful_ms, end_silence_ms),
    )
