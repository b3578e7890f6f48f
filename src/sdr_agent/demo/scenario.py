"""The demo call: an Acme Cloud SDR agent with a small knowledge base, and a prospect who answers the
greeting, asks about pricing, barges in mid-answer, books a meeting and says goodbye."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.audio.resample import resample
from sdr_agent.engines.base import TextToSpeech
from sdr_agent.sim.caller_script import CallerScript, CallerTurn, When

PROSPECT_NUMBER = "+15551234567"


@dataclass(frozen=True, slots=True)
class CallerLine:
    label: str
    text: str
    when: When = "after_agent_silence"
    delay_ms: int = 600


CALLER_LINES: tuple[CallerLine, ...] = (
    CallerLine("greeting", "Hi, yes, this is Jordan speaking."),
    CallerLine("pricing", "How much does the Team plan cost?"),
    CallerLine("barge-in", "Sorry, is there a free trial?", when="during_agent_speech", delay_ms=1500),
    CallerLine("meeting", "Can we book a meeting on Tuesday at 3 pm?"),
    CallerLine("confirm", "Yes, please book it."),
    CallerLine("goodbye", "Great, thank you, goodbye."),
)

# What the Ollama stand-in answers, turn by turn, in `sdr-agent demo --engines cloud-standins`.
CLOUD_REPLIES: tuple[str, ...] = (
    "Nice to meet you, Jordan. What does your team use to keep track of customers today?",
    "The Team plan costs 49 dollars per user per month. It includes unlimited users and every integration, "
    "and paying yearly saves 20 percent.",
    "Yes, every new account gets a 14-day free trial of the Team plan, and no credit card is needed.",
    "Happy to set that up. Shall I book Tuesday at 3 pm for a 30-minute demo?",
    "Done. You will get a calendar invitation by email.",
    "Thanks for your time, Jordan. Goodbye!",
)


def knowledge_text() -> str:
    return resources.files("sdr_agent.demo").joinpath("acme_kb.md").read_text(encoding="utf-8")


def agent_body(document_id: str) -> dict[str, Any]:
    return {
        "name": "Acme Cloud SDR (demo)",
        "tags": ["demo"],
        "conversation_config": {
            "agent": {
                "first_message": "Hi {{customer_name}}, this is Alex from Acme Cloud. Do you have a minute?",
                "language": "en",
                "prompt": {
                    "prompt": (
                        "You are Alex, a friendly sales development rep for Acme Cloud. Answer only from the "
                        "knowledge base, qualify the prospect, and offer a 30-minute demo meeting."
                    ),
                    "knowledge_base": [{"type": "text", "name": "Acme Cloud fact sheet", "id": document_id,
                                        "usage_mode": "auto"}],
                },
            },
            "turn": {"turn_timeout": 7, "interrupt_enabled": True},
            "conversation": {"max_duration_seconds": 180},
        },
        "platform_settings": {
            "data_collection": {
                "meeting_booked": {"type": "boolean", "description": "Did the prospect book a meeting?"},
                "budget": {"type": "string", "description": "Budget the prospect mentioned"},
            },
            "evaluation": {"criteria": [{"id": "meeting", "name": "Meeting booked",
                                         "conversation_goal_prompt": "The prospect booked a demo meeting."}]},
        },
    }


async def render_caller_script(
    tts: TextToSpeech, lines: tuple[CallerLine, ...] = CALLER_LINES
) -> CallerScript:
    """Speak the prospect's lines with the offline TTS, as 8 kHz μ-law the stand-in streams in real time."""
    steps = []
    for line in lines:
        chunks: list[np.ndarray] = []
        rate = 8000
        async for chunk in tts.synthesize(line.text):
            rate = chunk.sample_rate
            chunks.append(np.frombuffer(chunk.data, dtype="<i2").astype(np.int16))
        pcm = trim_silence(resample(np.concatenate(chunks), rate, 8000)) if chunks else np.zeros(0, np.int16)
        if len(pcm) == 0:
            raise ValueError(f"the TTS produced no audio for {line.text!r}")
        steps.append(CallerTurn(pcm_to_ulaw(pcm), when=line.when, delay_ms=line.delay_ms, label=line.label))
    return CallerScript(tuple(steps))


def trim_silence(pcm: np.ndarray, threshold_rms: float = 100.0, frame: int = 160) -> np.ndarray:
    """Cut leading/trailing synthesiser silence so a caller turn starts at its speech onset."""
    energies = [
        float(np.sqrt(np.mean(pcm[i : i + frame].astype(np.float64) ** 2))) for i in range(0, len(pcm), frame)
    ]
    voiced = [i for i, energy in enumerate(energies) if energy >= threshold_rms]
    if not voiced:
        return pcm[:0]
    return pcm[voiced[0] * frame : (voiced[-1] + 1) * frame]
