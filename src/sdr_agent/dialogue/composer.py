"""What the agent says next, decided in one place for every engine: ``ReplyComposer.compose`` turns a caller
turn into a typed ``TurnBrief`` — the act, the sentences (quoted knowledge, the agent's own script), and any
tool call the dialogue already decided on. The offline responder speaks the brief as it is; a generative
model gets the same plan as guidance and phrases it itself.

The composer remembers what was said (``SaidLog``) and picks an unused variant of every line, so a call
never hears the same sentence twice. The state and the line helpers the moves are built from live in
``composer_base``; this module routes the turn and holds the moves.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from sdr_agent.dialogue.answers import generic_question
from sdr_agent.dialogue.composer_base import ComposeContext, ComposerBase
from sdr_agent.dialogue.intents import Intent, normalize_utterance
from sdr_agent.dialogue.lexicon import INVITATION, Objection, Signal
from sdr_agent.dialogue.reply_parts import (
    ASK_HOUR,
    ASK_TIME,
    REGARDING,
    TIME_WORDS,
    new_call,
    offers_slot,
    safe_name,
)
from sdr_agent.dialogue.sales_script import (
    ACKNOWLEDGE_NO,
    ACKNOWLEDGE_OTHER,
    ACKNOWLEDGE_YES,
    ANYTHING_ELSE,
    FOLLOW_UPS,
)
from sdr_agent.dialogue.signals import TurnSignals
from sdr_agent.dialogue.turn_analysis import CallerTurn
from sdr_agent.engines.base import ReplyAct, TurnBrief


class ReplyComposer(ComposerBase):
    # ------------------------------------------------------------ the turn
    def compose(self, turn: CallerTurn, signals: TurnSignals, ctx: ComposeContext) -> TurnBrief:
        self.state.turn += 1
        self.caller_said.append(turn.text)
        for make in (self._pending_answer, self._meeting):
            brief = make(turn, ctx)
            if brief is not None:
                return brief
        # "What is this regarding?" from someone not yet known to be a gatekeeper is the prospect asking.
        regarding = (
            signals.signal is Signal.GATEKEEPER
            and not self.state.gatekeeper
            and turn.intent is Intent.QUESTION
        )
        if not regarding and (
            signals.signal is Signal.GATEKEEPER
            or (self.state.gatekeeper and turn.intent is not Intent.QUESTION)
        ):
            return self._gatekeeper(turn, ctx)
        if signals.signal is Signal.IDENTITY or regarding:
            return self._identity(ctx)
        if signals.objection is not None:
            return self._objection(signals.objection, turn, ctx)
        invited = bool(INVITATION.search(normalize_utterance(turn.text))) and turn.word_count <= 12
        asks = turn.intent is Intent.QUESTION or (
            turn.intent is Intent.ACTION and turn.text.endswith("?") and not turn.wants_meeting
        )
        if asks and not invited:
            return self._question(turn, ctx)
        if turn.intent is Intent.HELLO or invited:
            greeting = f"Hi {safe_name(ctx.caller_name)}." if ctx.caller_name else ""
            intro = "" if not ctx.first_turn else self.reason_line()
            return self._brief(
                ReplyAct.GREET, self._fresh([greeting]) if greeting else "", intro, self.next_step(ctx)
            )
        if turn.intent is Intent.CONFIRM:
            ack = self._fresh(ACKNOWLEDGE_YES if turn.polarity == "yes" else ACKNOWLEDGE_NO)
            intro = self.reason_line() if ctx.first_turn and turn.polarity == "yes" else ""
            return self._brief(ReplyAct.ACKNOWLEDGE, ack, intro, self.next_step(ctx))
        ack = self._fresh(ACKNOWLEDGE_OTHER if turn.intent is not Intent.ACTION else ("Sure.", "Of course."))
        knowledge = self._knowledge(turn.text, ctx, 1) if turn.word_count >= 5 else []
        return self._brief(ReplyAct.ACKNOWLEDGE, ack, *knowledge, self.next_step(ctx))

    # ------------------------------------------------------------ moves
    def _pending_answer(self, turn: CallerTurn, ctx: ComposeContext) -> TurnBrief | None:
        """The caller answers something the agent asked: a call-back time, an email, consent to send info."""
        st = self.state
        when = turn.slot.text if turn.slot is not None else None
        if when is None and (match := TIME_WORDS.search(turn.text)):
            when = turn.text if turn.word_count <= 8 else match.group(0)
        if (st.awaiting_callback or st.gatekeeper) and when and turn.intent is not Intent.QUESTION:
            st.awaiting_callback = False
            st.callback_when = when
            thanks = "Thank you for your help." if st.gatekeeper else "Perfect."
            return self._brief(
                ReplyAct.CLOSE,
                thanks,
                "I'll call back then. Have a great day, goodbye!",
                calls=[self._end("call back later")],
            )
        email = turn.email or (ctx.caller_email if st.awaiting_email and turn.polarity == "yes" else None)
        if st.awaiting_email and email:
            st.awaiting_email = False
            st.info_email = email
            return self._brief(
                ReplyAct.ACKNOWLEDGE,
                f"Thanks, I'll send the information to {email}.",
                self._fresh(ANYTHING_ELSE),
            )
        if (
            st.awaiting_email
            and turn.intent is Intent.OTHER
            and re.search(r"\b(?:at|dot)\b", turn.text.lower())
        ):
            ask = self._fresh(
                ("Sorry, I didn't quite catch that. Could you spell the email address for me?",)
            )
            if ask:
                return self._brief(ReplyAct.ACKNOWLEDGE, ask)
        if st.offered_info and turn.intent is Intent.CONFIRM:
            st.offered_info = False
            if turn.polarity == "no":
                return self._brief(
                    ReplyAct.CLOSE,
                    "No problem at all. Thanks for your time, and have a great day.",
                    calls=[self._end("caller not interested")],
                )
            st.awaiting_email = True
            return self._brief(
                ReplyAct.ACKNOWLEDGE,
                self._fresh(ACKNOWLEDGE_YES),
                "What's the best email address to send it to?",
            )
        return None

    def _mentions_meeting(self, text: str) -> bool:
        """The caller names the agent's own kind of meeting ("a tasting sounds fun")."""
        head = self.script.meeting_noun.split()[-1].lower()
        return head not in ("call", "") and re.search(rf"\b{re.escape(head)}s?\b", text.lower()) is not None

    def _meeting(self, turn: CallerTurn, ctx: ComposeContext) -> TurnBrief | None:
        st = self.state
        if self._mentions_meeting(turn.text):
            turn = replace(turn, wants_meeting=True)
        if st.pitched_at == st.turn - 1:
            ctx.meeting_proposed = True  # the last reply ended with the pitch, whatever its words
        if not ctx.can_book or ctx.booked or st.awaiting_callback:
            return None
        if turn.intent is Intent.QUESTION and not offers_slot(turn):
            return None  # "how about Tuesday at 3?" offers a time; other questions are answered first
        slot = turn.slot
        agreed = ctx.meeting_proposed and turn.polarity == "yes"
        asked = turn.wants_meeting and (
            turn.intent in (Intent.ACTION, Intent.CONFIRM, Intent.OTHER) or offers_slot(turn)
        )
        invited = ctx.meeting_proposed or st.awaiting_time
        if slot is not None and slot.complete and (agreed or asked or invited):
            st.awaiting_time = False
            arguments: dict[str, Any] = {"when": slot.text}
            if slot.timezone:
                arguments["timezone"] = slot.timezone
            if safe_name(ctx.caller_name):
                arguments["name"] = safe_name(ctx.caller_name)
            if ctx.caller_email:
                arguments["email"] = ctx.caller_email
            return self._brief(
                ReplyAct.BOOK, self._fresh(ACKNOWLEDGE_YES), calls=[new_call("book_meeting", arguments)]
            )
        if agreed or asked or (slot is not None and invited):
            st.awaiting_time = True
            ask = self._fresh(ASK_HOUR if slot is not None and slot.day_text else ASK_TIME)
            ack = self._fresh(ACKNOWLEDGE_YES) if turn.polarity != "no" else ""
            return self._brief(ReplyAct.ASK_TIME, ack, ask or self._fresh(ASK_TIME))
        return None

    def _gatekeeper(self, turn: CallerTurn, ctx: ComposeContext) -> TurnBrief:
        st = self.state
        first = not st.gatekeeper
        st.gatekeeper = True
        product = self.persona.product or "this"
        if first:
            known = all(
                part.lower() in self.opening for part in (self.persona.agent_name, self.persona.company)
            )
            who = "" if known else self.introduction()
            return self._brief(
                ReplyAct.GATEKEEPER,
                "Thanks for letting me know.",
                who,
                f"Who would be the best person to speak with about {product}, and when is a good time to "
                "reach them?",
            )
        ask = self._fresh(
            (
                "Could you tell me a good time to reach them?",
                "When would be the best time to try them again?",
            )
        )
        if ask and REGARDING.search(turn.text):
            reason = self.reason_line() or self.introduction()
            return self._brief(ReplyAct.GATEKEEPER, reason, ask)
        if ask:
            return self._brief(ReplyAct.GATEKEEPER, self._fresh(("I appreciate it.", "Thank you.")), ask)
        return self._brief(
            ReplyAct.CLOSE,
            "Thanks for your help, I'll try again another time. Goodbye!",
            calls=[self._end("gatekeeper")],
        )

    def _identity(self, ctx: ComposeContext) -> TurnBrief:
        intro = self.introduction()
        reason = self.reason_line()
        if not intro and not reason:
            intro = self._fresh(("I'm an AI assistant calling on behalf of our sales team.",))
        follow = self._fresh(
            ("Do you have a quick minute?", "Is now an okay time for a couple of quick questions?")
        )
        return self._brief(ReplyAct.INTRODUCE, intro, reason, follow or self.next_step(ctx))

    def _question(self, turn: CallerTurn, ctx: ComposeContext) -> TurnBrief:
        readings = [turn.text]
        if ctx.question and ctx.question != turn.text:  # a follow-up ("who pays for that?") with its question
            readings.insert(0 if generic_question(turn.text) else 1, ctx.question)
        answer: list[str] = []
        for reading in readings:
            answer = answer or self._knowledge(reading, ctx)
        if answer:
            return self._brief(ReplyAct.ANSWER, *answer, self.next_step(ctx))
        return self._brief(ReplyAct.FOLLOW_UP, self._fresh(FOLLOW_UPS), self.next_step(ctx))

    def _objection(self, kind: Objection, turn: CallerTurn, ctx: ComposeContext) -> TurnBrief:
        st = self.state
        line = self._fresh(self.script.objection_lines.get(kind, ()))
        note = f"The caller raised an objection ({kind.value}); answer it briefly and kindly."
        noun = self.script.meeting_noun
        if kind in (Objection.BAD_TIMING, Objection.CALL_LATER):
            if turn.slot is not None or (kind is Objection.CALL_LATER and TIME_WORDS.search(turn.text)):
                when = turn.slot.text if turn.slot is not None else "then"
                st.callback_when = when
                close = "I'll call you back then. Thanks, talk soon!"
                return self._brief(
                    ReplyAct.CLOSE, line, close, calls=[self._end("call back later")], note=note
                )
            st.awaiting_callback = True
            ask = self._fresh(
                (
                    "When would be a better time for me to call you back?",
                    "What time would suit you better for a quick call back?",
                )
            )
            return self._brief(ReplyAct.OBJECTION, line, ask, note=note)
        if kind is Objection.SEND_INFO:
            email = turn.email or ctx.caller_email
            if email:
                st.info_email = email
                return self._brief(
                    ReplyAct.OBJECTION,
                    line,
                    f"I'll send it to {email}.",
                    self._fresh(ANYTHING_ELSE),
                    note=note,
                )
            st.awaiting_email = True
            return self._brief(
                ReplyAct.OBJECTION, line, "What's the best email address to send it to?", note=note
            )
        if kind is Objection.NOT_INTERESTED:
            if ctx.objection_count >= 2 or st.offered_info:
                return self._brief(
                    ReplyAct.CLOSE,
                    "No problem at all. Thanks for your time, and have a great day.",
                    calls=[self._end("caller not interested")],
                    note=note,
                )
            st.offered_info = True
            return self._brief(
                ReplyAct.OBJECTION,
                line,
                "Would it be alright if I sent you a short overview by email instead?",
                note=note,
            )
        if kind is Objection.AUTHORITY:
            ask = (
                "Who would be the right person to talk to, and would it make sense to include them in a "
                f"short {noun}?"
            )
            return self._brief(
                ReplyAct.OBJECTION,
                line,
                self._fresh((ask, "Who else should I speak with about this?")),
                note=note,
            )
        query = turn.text + (" price cost plan" if kind is Objection.PRICE else " switch compare")
        knowledge = self._knowledge(query, ctx, 1)
        step = self.next_step(ctx)
        if kind is Objection.COMPETITOR and not step:
            step = self._fresh(("What do you like most about your current setup?",))
        return self._brief(ReplyAct.OBJECTION, line, *knowledge, step, note=note)
