"""What ``bench/peers.py`` needs besides the orchestration: the stand-in LLM's fixed lines, the caller's
script, a Twilio Media Streams call straight to a WebSocket (the Pipecat server has no TwiML webhook), and
judging a call from what the caller heard.

The same fixed lines answer both stacks: the OpenAI-compatible stand-in picks a line by keywords of the last
user message, so a stack that hears the question answers with the same words whatever its turn count.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
from bench.caller_ear import ReplyJudgement, TurnPlan, judge_turns
from bench.callers import RATE, CallerVoice, phone_line
from bench.latency import LINE_SNR_DB, LINES, POLITE_MS

from sdr_agent.audio.mulaw import pcm_to_ulaw
from sdr_agent.sim.call_record import FRAME_MS, CallPlan, SimulatedCall, audible
from sdr_agent.sim.caller_script import CallerScript, CallerStep, CallerTurn, HangUp
from sdr_agent.sim.llm_script import ScriptedReply
from sdr_agent.sim.twilio_media import MediaStreamCaller

# (keywords, reply), first match wins. The replies the caller interrupts or backchannels over are long enough
# (~6 s) that an agent still talking 3 s after the caller's sound is unmistakable.
REPLIES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("goodbye", "bye", "thank"), "Thank you, Jordan. Have a great day."),
    (
        ("remote", "forty"),
        "Pricing is per user, so forty people sit on the Team plan, and remote teams get "
        "the mobile apps at no extra cost.",
    ),
    (
        ("cost", "price", "much"),
        "The Team plan is forty nine dollars per user per month, billed yearly, and it "
        "includes every integration we offer.",
    ),
    (("trial",), "Yes, there is a free fourteen day trial."),
    (
        ("onboard", "board", "long"),
        "Onboarding takes about two weeks. A specialist sets up your workspace, "
        "imports your data, and trains your team in two live sessions.",
    ),
    (
        ("secur", "complian"),
        "We are certified for security and encrypt everything at rest and in transit. "
        "Single sign on and audit logs come with the Business plan.",
    ),
    (("meeting", "tuesday", "book"), "Tuesday at three works. I will send you an invite."),
    (("jordan", "yes", "hi"), "Great, I will be quick. Acme Cloud helps sales teams book more meetings."),
)
DEFAULT_REPLY = "Sure, happy to help with that."
# The latency bench's first eight lines: ≥ 30 judged turns per stack from four voices in a run of ~15 minutes.
CALL_LINES = LINES[:8]
GREETING = "Hi Jordan, this is Alex from Acme Cloud. Do you have a minute?"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def fixed_line(messages: list[dict[str, Any]]) -> ScriptedReply:
    """The stand-in's answer to any chat request: the line whose keywords the last user message has."""
    last = next((_text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    lowered = last.lower()
    for keywords, reply in REPLIES:
        if any(word in lowered for word in keywords):
            return ScriptedReply(text=reply)
    return ScriptedReply(text=DEFAULT_REPLY)


@dataclass(frozen=True, slots=True)
class Interjection:
    """Said while the agent talks: a barge-in (a real question) or a backchannel (the agent should go on)."""

    label: str
    text: str
    after_label: str  # said during the reply to this line
    delay_ms: int  # this long after the reply became audible


INTERJECTIONS: tuple[Interjection, ...] = (
    Interjection("barge-in-price", "Sorry, is that per user?", "price", 800),
    Interjection("backchannel-onboarding", "Uh-huh.", "onboarding", 900),
    Interjection("backchannel-remote", "Right.", "remote", 900),
    Interjection("barge-in-security", "Wait, what about single sign on?", "security", 800),
)


def script_texts() -> list[str]:
    return [t for line in CALL_LINES for t in (line.text, line.rest) if t] + [i.text for i in INTERJECTIONS]


def call_script(
    voice: CallerVoice, speech: dict[tuple[str, str], np.ndarray], seed: int
) -> tuple[CallerScript, list[TurnPlan]]:
    """The latency bench's polite lines, with a barge-in or a backchannel during four of the replies, then
    a hang-up once the agent's last reply is over."""
    rng = np.random.default_rng(seed)
    steps: list[CallerStep] = []
    plans: list[TurnPlan] = []
    for line in CALL_LINES:
        first = speech[(line.text, voice.name)]
        pcm = first
        if line.rest:
            pause = np.zeros(RATE * line.pause_ms // 1000, np.int16)
            pcm = np.concatenate([first, pause, speech[(line.rest, voice.name)]])
        steps.append(
            CallerTurn(
                pcm_to_ulaw(phone_line(pcm, LINE_SNR_DB, rng)),
                when="after_agent_silence",
                delay_ms=POLITE_MS,
                label=line.label,
            )
        )
        plans.append(
            TurnPlan(
                line.label,
                complete=not line.rest,
                first_part_ms=1000.0 * len(first) / RATE if line.rest else 0.0,
            )
        )
        for extra in INTERJECTIONS:
            if extra.after_label == line.label:
                heard = phone_line(speech[(extra.text, voice.name)], LINE_SNR_DB, rng)
                steps.append(
                    CallerTurn(
                        pcm_to_ulaw(heard),
                        when="during_agent_speech",
                        delay_ms=extra.delay_ms,
                        label=extra.label,
                    )
                )
    steps.append(HangUp(when="after_agent_silence", delay_ms=POLITE_MS))
    return CallerScript(tuple(steps), end_timeout_s=20.0), plans


def start_direct_call(
    ws_url: str, plan: CallPlan, caller_number: str
) -> tuple[SimulatedCall, asyncio.Task[None]]:
    """Twilio's side of a Media Stream opened straight to ``ws_url`` (what a TwiML ``<Stream>`` would do)."""
    loop = asyncio.get_running_loop()
    call = SimulatedCall(
        sid="CA" + secrets.token_hex(16),
        account_sid="AC" + secrets.token_hex(16),
        direction="inbound",
        from_=caller_number,
        to="+15550100000",
        url=None,
        status_callback=None,
        callback_events=[],
        plan=plan,
        created_monotonic=loop.time(),
        status="in-progress",
    )

    def clock_ms() -> float:
        return (loop.time() - call.created_monotonic) * 1000.0

    async def run() -> None:
        call.answered_ms = clock_ms()
        try:
            call.ended_by = await MediaStreamCaller(call, ws_url, {}, clock_ms).run()
        finally:
            call.ended_ms = clock_ms()
            call.status = "completed"
            call.ended.set()

    return call, asyncio.create_task(run(), name=f"peer-call-{call.sid}")


def speech_turns(call: SimulatedCall, labels: set[str]) -> list[tuple[float, float]]:
    return [
        (t.started_ms, float(t.ended_ms))
        for t in call.turns
        if t.kind == "speech" and t.label in labels and t.ended_ms is not None
    ]


@dataclass(frozen=True, slots=True)
class Interjected:
    label: str
    agent_was_playing: bool
    stop_latency_ms: float | None  # barge-ins: onset → silence heard
    agent_gave_up: bool  # backchannels: a clear, or ≥ 0.7 s of silence within 3 s of the onset


GIVE_UP_WINDOW_MS = 3000.0
GIVE_UP_SILENCE_MS = float(POLITE_MS)  # a silence the polite caller would take as the end of the reply


def gave_up_after(call: SimulatedCall, onset_ms: float) -> bool:
    end = onset_ms + GIVE_UP_WINDOW_MS
    if any(onset_ms <= t <= end for t in call.clears):
        return True
    voiced = [f.t_ms for f in call.heard_frames if onset_ms <= f.t_ms <= end and audible(f.audio)]
    edges = [onset_ms - FRAME_MS, *voiced, end]
    return any(b - a - FRAME_MS >= GIVE_UP_SILENCE_MS for a, b in itertools.pairwise(edges))


def judge_call(call: SimulatedCall, plans: list[TurnPlan]) -> tuple[list[ReplyJudgement], list[Interjected]]:
    labels = {plan.label for plan in plans}
    turns = speech_turns(call, labels)
    end_ms = call.heard_frames[-1].t_ms + FRAME_MS if call.heard_frames else 0.0
    judged = judge_turns(call.heard_frames, turns, plans[: len(turns)], end_ms)
    interjected = [
        Interjected(
            t.label,
            t.agent_was_playing,
            t.stop_latency_ms,
            t.agent_was_playing and gave_up_after(call, t.started_ms),
        )
        for t in call.turns
        if t.kind == "speech" and t.label.startswith(("barge-in", "backchannel"))
    ]
    return judged, interjected


def capacity_script(
    speech: dict[tuple[str, str], np.ndarray], voice: CallerVoice, turns: int
) -> CallerScript:
    """Polite complete questions over and over, for the ramp."""
    rng = np.random.default_rng(7)
    lines = [line for line in CALL_LINES if not line.rest and line.label not in ("greeting", "goodbye")]
    steps = []
    for index in range(turns):
        line = lines[index % len(lines)]
        audio = pcm_to_ulaw(phone_line(speech[(line.text, voice.name)], LINE_SNR_DB, rng))
        steps.append(
            CallerTurn(audio, when="after_agent_silence", delay_ms=500, label=f"{line.label}-{index}")
        )
    return CallerScript(tuple(steps), end_timeout_s=120.0)
