"""One lexicon of what callers say on sales calls, shared by live routing (``dialogue``) and post-call
analysis (``analysis.facts``), so a phrase that makes the agent hang up is the same phrase the report calls
an opt-out.

Patterns run on ``normalize_utterance`` output (lower case, apostrophes kept, other punctuation dropped).
They are the fast path; ``dialogue.signals`` backs them with nearest-neighbour search over the labelled
examples below using the product's own sentence embedder, for paraphrases no pattern lists.
"""

from __future__ import annotations

import re
from enum import StrEnum


def _any(*items: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(items) + r")\b")


class Objection(StrEnum):
    NOT_INTERESTED = "not_interested"
    BAD_TIMING = "bad_timing"
    CALL_LATER = "call_later"
    PRICE = "price"
    COMPETITOR = "competitor"
    SEND_INFO = "send_info"
    AUTHORITY = "authority"


class Signal(StrEnum):
    """Caller moves the dialogue handles itself, whatever a language model would say."""

    OPT_OUT = "opt_out"
    AI_QUESTION = "ai_question"
    HOSTILE = "hostile"
    WRONG_NUMBER = "wrong_number"
    GATEKEEPER = "gatekeeper"
    IDENTITY = "identity"  # who is this / why are you calling
    HUMAN_REQUEST = "human_request"


_CALL = r"(?:call|calling|ring|ringing|phone|phoning|contact|contacting|dial|dialing|bother|bothering)"
OPT_OUT = _any(
    rf"(?:don'?t|do not|dont|never|please don'?t|stop|quit|no more) (?:ever )?{_CALL}"
    r"(?: me| us| here| this number"
    r"| this line| my (?:cell|phone|number))?(?: again| anymore| any more)?",
    r"(?:remove|delete|take|scratch|strike|drop|erase) (?:me|us|my number|this number|my name|our number|"
    r"my details|this line|my info)(?: from| off)",
    r"(?:remove|delete|take|scratch|erase) (?:me|us|my number|this number|our number)$",
    r"take (?:me|us|this number|my number|our number) off",
    r"off (?:your|the) (?:calling |call |contact |mailing )?list",
    r"(?:do not|don'?t) call (?:list|registry)",
    r"(?:lose|forget) (?:my|this|our) number",
    r"(?:rather|prefer(?:red)?) (?:if )?(?:you )?(?:didn'?t|did not|not|don'?t|wouldn'?t) (?:call|phone|ring"
    r"|contact)(?: me| us)? (?:again|anymore|any more|at all)",
    r"(?:didn'?t|don'?t|not) (?:call|phone|ring|contact) (?:me|us) (?:again|anymore|any more)",
    r"unsubscribe",
    r"opt(?:ing)? out",
    r"no more calls",
    r"never (?:want to )?(?:hear from|be called by) you",
    r"(?:i|we) don'?t want (?:any )?(?:more )?(?:calls|to be called|you calling)",
)
AI_QUESTION = _any(
    r"(?:are|r) (?:you|u|ya) (?:a |an |some )?(?:kind of )?(?:robot|bot|ai|a i|machine|computer|recording|"
    r"automated|automatic|real person|real human|human|person|actual person|live person|real|artificial)",
    r"(?:is|was) (?:this|that|it) (?:a |an )?(?:robot|bot|ai|a i|machine|computer|recording|automated|"
    r"recorded|robocall|real person|human|prerecorded|pre recorded)",
    r"(?:am i|are we) (?:talking|speaking|chatting) (?:to|with) (?:a |an )?(?:real |actual |live )?"
    r"(?:person|human|robot|bot|ai|machine|computer|recording)",
    r"artificial intelligence",
    r"robo ?call",
    r"you sound like a (?:robot|bot|machine|computer|recording)",
    r"(?:are you|is this) (?:even )?(?:real|for real)$",
)
HOSTILE = _any(
    r"scam(?:mer|mers|ming)?",
    r"fraud(?:ster)?",
    r"f+u+c+k\w*",
    r"shit\w*",
    r"bull ?shit",
    r"piss off",
    r"screw (?:you|off)",
    r"go to hell",
    r"get lost",
    r"leave me alone",
    r"harass(?:ing|ment)?",
    r"(?:i'?ll|i will|gonna|going to) (?:report|sue) you",
    r"you people",
    r"how dare you",
    r"idiot",
    r"stupid (?:robot|bot|call)",
    r"shut up",
    r"sick (?:and tired )?of (?:these|your|you)",
)
WRONG_NUMBER = _any(
    r"wrong number",
    r"no (?:one|body) (?:here )?(?:by|with|named) (?:that|this) name",
    r"(?:there'?s )?no (?:one|body) (?:here )?(?:called|named|by the name)",
    r"(?:doesn'?t|does not|don'?t) (?:work|live) here(?: anymore| any more)?",
    r"(?:no longer|not) with (?:the|this) company",
    r"you have the wrong",
    r"you'?ve got the wrong",
)
GATEKEEPER = _any(
    r"(?:he|she|they|\w+)(?:'s| is|'re| are) (?:at lunch|out (?:today|sick|to lunch|of (?:the )?office)"
    r"|off today"
    r"|on (?:another|the other) (?:call|line))",
    r"\w+(?: isn'?t| is not|'s not| aren'?t| are not) (?:here|in|available|around|in today|in the office)",
    r"i'?m just (?:a|an|the) \w+",
    r"i just work here",
    r"(?:he|she|they)(?:'s| is| are|'re)? (?:not|n't) (?:here|in|available|around|in the office"
    r"|at (?:his|her|their) desk)",
    r"(?:he|she|they)(?:'s| is| are|'re) (?:out|away|off|on vacation|on leave|in a meeting|busy"
    r"|with a (?:client|patient|customer))",
    r"(?:he|she|they)(?:'s| is| are|'re) (?:out of|not in) the office",
    r"i'?m (?:the|his|her|their|just the) (?:receptionist|assistant|secretary|office manager|front desk|"
    r"colleague|coworker|partner|wife|husband)",
    r"this is the (?:front desk|reception|main line|office)",
    r"(?:can|may|could|shall) i take a message",
    r"(?:who|what) (?:should|shall) i say (?:is calling|it'?s regarding|this is about)",
    r"what (?:is|'s) (?:this|it) (?:regarding|in regards to|in reference to)",
    r"(?:can|may) i ask who'?s calling",
    r"(?:i|we) (?:handle|screen) (?:his|her|their|the) calls",
)
IDENTITY = _any(
    r"who(?:'s| is| are) (?:this|that|you|calling|speaking|on the line)",
    r"who (?:am i|are we) (?:talking|speaking) (?:to|with)",
    r"(?:what|which) company (?:is this|are you(?: with| from| calling from)?|do you (?:work for|represent))",
    r"where (?:are you|is this) (?:calling )?from",
    r"who (?:do you|are you) (?:work for|with|calling (?:for|from|on behalf of))",
    r"why (?:are you|did you|you) (?:calling|call|ringing|phoning)",
    r"what(?:'s| is| are) (?:this|the call|your call|it) (?:about|for|regarding)",
    r"what do you want",
    r"what (?:are you|you) (?:selling|offering|calling about|want)",
    r"what(?:'s| is) your name",
    r"how did you get (?:my|this|our) (?:number|details|name|info)",
    r"who'?s speaking",
)
HUMAN_REQUEST = _any(
    r"(?:talk|speak|chat) (?:to|with) (?:a |an |the |your |some )?(?:human|real person|person|manager|"
    r"supervisor|someone|somebody|representative|rep|agent|operator|live agent|actual person|boss|"
    r"salesperson|sales rep|colleague)",
    r"(?:get|give|transfer|connect|put) me (?:to|with|through to)? ?(?:a |an |the |your )?"
    r"(?:human|real person|"
    r"manager|supervisor|representative|operator|someone|person)",
    r"(?:human|real person|manager|supervisor|operator),? please",
    r"i want (?:a|an|to talk to a) (?:human|real person|manager|person)",
)

OBJECTIONS: tuple[tuple[Objection, re.Pattern[str]], ...] = (
    (
        Objection.CALL_LATER,
        _any(
            r"call (?:me |us )?(?:back )?(?:later|tomorrow|next (?:week|month|quarter)|another time"
            r"|in an hour"
            r"|this afternoon|in the afternoon|in the morning|tonight|some other time)",
            r"(?:try|ring|reach) (?:me|us) (?:again )?(?:later|tomorrow|next week|another time)",
            r"call (?:me |us )?back",
            r"(?:can|could) you call (?:back|again)",
            r"catch me (?:later|another time|tomorrow|next week)",
        ),
    ),
    (
        Objection.SEND_INFO,
        _any(
            r"(?:send|email|e-mail|mail|shoot|drop) (?:me|us|over)? ?(?:some |an |the |a )?"
            r"(?:info|information|"
            r"email|details|brochure|deck|something|materials|literature|overview|one pager|link|pricing)",
            r"just (?:email|e-mail|send) (?:me|us|it)",
            r"(?:email|e-mail) (?:me|us)",
            r"put it in (?:an|a) (?:email|e-mail)",
            r"(?:do you have|got) (?:a |any )?(?:website|brochure|something in writing)",
            r"(?:put|have) (?:something|it|that|this) in writing",
            r"send (?:it|that|something) (?:over|through)",
        ),
    ),
    (
        Objection.BAD_TIMING,
        _any(
            r"busy",
            r"bad time",
            r"not a good (?:time|moment)",
            r"(?:in|into|running into|heading into) a meeting",
            r"driving",
            r"no time",
            r"swamped",
            r"slammed",
            r"not right now",
            r"can'?t talk",
            r"don'?t have time",
            r"(?:heading|running) out",
            r"in the middle of (?:something|a)",
            r"on (?:my|the) way out",
            r"with a (?:customer|client|patient)",
            r"next quarter",
            r"maybe later",
            r"not now",
        ),
    ),
    (
        Objection.PRICE,
        _any(
            r"too expensive",
            r"expensive",
            r"(?:no|tight|limited|small|our) budget",
            r"can'?t afford",
            r"too much money",
            r"pricey",
            r"costly",
            r"costs? too much",
            r"too (?:pricey|costly|much for us)",
            r"out of (?:our|my) (?:price range|budget)",
            r"price range",
            r"(?:can'?t|cannot) justify (?:the|that|another) (?:cost|spend|expense)",
            r"cheaper",
            r"money'?s tight",
        ),
    ),
    (
        Objection.COMPETITOR,
        _any(
            r"already (?:use|using|have|work with|working with|got|get|getting|buy|buying|order|signed with"
            r"|pay for|in contract)",
            r"happy with (?:our|what|the|who)",
            r"current (?:vendor|provider|tool|solution|system|supplier)",
            r"we use",
            r"we'?re using",
            r"we have (?:a|our own|something)",
            r"(?:locked|stuck) in(?:to)? a contract",
            r"we (?:went|go) with",
            r"(?:another|a different) (?:vendor|provider|company|supplier)",
            r"(?:built|build) (?:it|our own|something) (?:in house|ourselves)",
        ),
    ),
    (
        Objection.AUTHORITY,
        _any(
            r"not (?:the|my) decision",
            r"not (?:the right|the) person",
            r"not my (?:call|department|area)",
            r"talk to my (?:boss|manager|partner|team)",
            r"decision maker",
            r"makes? (?:those|the) decisions",
            r"need (?:to check with|approval|sign off)",
            r"(?:run|check) it (?:by|with) (?:my|the)",
            r"(?:my|our) (?:boss|manager|owner|cfo|ceo|director) (?:decides|handles|would)",
            r"not the (?:one|person) who (?:decides|makes|signs|handles)",
            r"(?:above|over) my pay grade",
        ),
    ),
    (
        Objection.NOT_INTERESTED,
        _any(
            r"not interested",
            r"no interest",
            r"not for (?:us|me)",
            r"not something (?:we|i) need",
            r"we'?re (?:good|fine|all set|set)",
            r"we are (?:good|fine|all set)",
            r"i'?m (?:good|all set) thanks",
            r"don'?t need (?:it|this|that|anything|any)",
            r"no need",
            r"not a fit",
            r"pass on (?:this|that|it)",
            r"we'?ll pass",
            r"no thanks?(?: you)?$",
            r"doesn'?t (?:apply|fit)",
            r"not looking",
            r"not (?:really )?(?:our|my) (?:thing|cup of tea|priority)",
            r"(?:i'?ll|i think i'?ll|i'?m going to) pass",
            r"(?:we'?ve|we have|i'?ve) got (?:that|it|this) covered",
            r"no,? thank you",
        ),
    ),
)

OBJECTIONS_BY_KIND: dict[Objection, re.Pattern[str]] = dict(OBJECTIONS)

# The caller hands the turn back ("what can I do for you?"): not a question to answer from the knowledge base.
INVITATION = _any(
    r"what can i (?:do|help you with)(?: for you)?",
    r"how can i help(?: you)?",
    r"what do you need",
    r"what'?s up",
    r"go ahead",
    r"i'?m listening",
    r"what (?:is|'s) it",
)

# Post-call analysis calls these turns a refusal to go on with the call.
DECLINE = _any(
    r"not interested",
    r"no thank(?:s| you)",
    r"not for us",
    r"leave me alone",
)

VOICEMAIL = _any(
    r"leave (?:a|your|me a|us a) (?:message|name and number|voicemail|detailed message)",
    r"after the (?:tone|beep)",
    r"at the (?:tone|beep)",
    r"(?:not|un)available (?:to take|right now|at the moment|at this time)",
    r"can'?t (?:come to|take|get to|answer) (?:the|your) (?:phone|call)",
    r"voice ?mail",
    r"mailbox",
    r"record your message",
    r"please leave",
    r"you have reached",
    r"you'?ve reached",
    r"i'?ll (?:get|call) back to you as soon as",
    r"not able to (?:answer|take) (?:the|your) (?:phone|call)",
    r"the (?:person|number|subscriber) you (?:are|were|have) (?:trying|calling|called|dialed)",
)

# Labelled examples for nearest-neighbour routing when no pattern fires. Kept short and varied; they are
# what a caller says, not what a pattern matches.
SIGNAL_EXAMPLES: dict[Signal, tuple[str, ...]] = {
    Signal.OPT_OUT: (
        "please stop calling me",
        "take my number off your list",
        "i don't want these calls anymore",
        "put me on your do not call list",
        "never call this number again",
        "remove us from your database",
        "i'd prefer you not phone me again",
        "please don't ring me anymore",
    ),
    Signal.AI_QUESTION: (
        "are you a robot",
        "is this an automated call",
        "am i talking to a real person",
        "are you a human or a computer",
        "is this a recording",
        "are you an ai",
    ),
    Signal.HOSTILE: (
        "this is a scam",
        "leave me alone you scammer",
        "how dare you call me",
        "you people are harassing me",
        "i'm going to report you",
        "this is ridiculous stop wasting my time",
    ),
    Signal.GATEKEEPER: (
        "he's not in right now",
        "she's out of the office today",
        "i'm his assistant can i take a message",
        "this is the front desk",
        "what is this regarding",
        "they're in meetings all day",
    ),
    Signal.IDENTITY: (
        "who is this",
        "who are you with",
        "why are you calling me",
        "what company is this",
        "what's this call about",
        "what are you selling",
    ),
    Signal.WRONG_NUMBER: (
        "you have the wrong number",
        "nobody by that name works here",
        "she doesn't work here anymore",
    ),
}
OBJECTION_EXAMPLES: dict[Objection, tuple[str, ...]] = {
    Objection.NOT_INTERESTED: ("we're not interested", "no thanks we're all set", "that's not for us"),
    Objection.BAD_TIMING: (
        "i'm really busy right now",
        "this isn't a good time",
        "i'm about to walk into a meeting",
    ),
    Objection.CALL_LATER: ("call me back next week", "try me again tomorrow", "can you ring me later"),
    Objection.PRICE: ("that sounds expensive", "we don't have the budget", "we can't afford another tool"),
    Objection.COMPETITOR: (
        "we already use another vendor",
        "we're happy with our current provider",
        "we signed with someone else",
    ),
    Objection.SEND_INFO: (
        "just send me an email",
        "can you email me some information",
        "send me the details",
    ),
    Objection.AUTHORITY: (
        "i'm not the decision maker",
        "you'd have to talk to my boss",
        "that's not my call to make",
    ),
}
