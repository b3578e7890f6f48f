"""Word valences for caller sentiment on a sales call (VADER-style scale, -4 .. +4), plus the words that
negate, strengthen or soften them. Tuned for spoken, lower-case STT output: no emoji, no capitals."""

from __future__ import annotations

VALENCE: dict[str, float] = {
    # agreement and interest
    "yes": 0.6, "yeah": 0.5, "yep": 0.5, "sure": 0.6, "agree": 1.5, "agreed": 1.5, "correct": 0.8,
    "interested": 1.7, "interesting": 1.7, "curious": 1.0, "keen": 1.5, "excited": 2.0, "exciting": 2.2,
    "good": 1.9, "great": 3.1, "excellent": 3.2, "amazing": 2.8, "awesome": 3.1, "fantastic": 2.6,
    "wonderful": 2.7, "perfect": 2.7, "brilliant": 2.8, "best": 3.2, "better": 1.9, "nice": 1.8, "cool": 1.3,
    "fine": 0.8, "love": 3.2, "loved": 2.9, "enjoy": 2.2, "happy": 2.7, "glad": 2.0, "pleased": 1.9,
    "pleasure": 2.7, "helpful": 1.8, "useful": 1.9, "valuable": 2.0, "easy": 1.9, "impressive": 2.3,
    "impressed": 2.2, "fair": 1.3, "reasonable": 1.5, "affordable": 1.5, "save": 1.0, "saves": 1.0,
    "benefit": 1.5, "beneficial": 1.8, "recommend": 1.5, "success": 2.7, "successful": 2.8, "welcome": 2.0,
    "thanks": 1.5, "thank": 1.5, "appreciate": 2.0, "appreciated": 2.0, "works": 0.8, "definitely": 1.0,
    # refusal, irritation, doubt
    "no": -1.0, "nope": -1.0, "nah": -1.0, "bad": -2.5, "terrible": -2.5, "awful": -2.9, "horrible": -2.5,
    "hate": -2.7, "annoying": -2.0, "annoyed": -2.0, "angry": -2.3, "mad": -2.2, "frustrated": -2.4,
    "frustrating": -2.1, "upset": -1.6, "disappointed": -1.9, "disappointing": -2.2, "unhappy": -2.0,
    "sad": -2.1, "useless": -1.8, "pointless": -1.9, "waste": -1.8, "wasting": -1.8, "scam": -2.6,
    "spam": -1.5, "junk": -1.5, "nonsense": -1.7, "ridiculous": -2.1, "stupid": -2.4, "rude": -2.0,
    "pushy": -1.8, "expensive": -1.3, "overpriced": -1.8, "pricey": -1.0, "costly": -1.2, "problem": -1.7,
    "problems": -1.7, "issue": -1.0, "issues": -1.0, "trouble": -1.7, "worried": -1.6, "worry": -1.6,
    "concerned": -1.0, "concern": -1.0, "confusing": -1.5, "confused": -1.3, "difficult": -1.5,
    "busy": -0.8, "sorry": -0.3, "unfortunately": -1.2, "cancel": -1.0, "complain": -1.8,
    "complaint": -1.8, "sucks": -1.5, "worse": -2.1, "worst": -3.1, "fail": -2.5, "failed": -2.3,
    "broken": -1.6, "slow": -1.0, "unreliable": -1.8, "bother": -1.5, "bothering": -1.8, "stop": -1.2,
    "damn": -1.7, "crap": -1.6, "unacceptable": -2.0, "irrelevant": -1.0, "lied": -2.0, "liar": -2.5,
    "tired": -1.0, "sick": -1.7, "dislike": -1.6,
}

# Multi-word expressions, matched before single words (their words then count only once, as the phrase).
PHRASES: dict[str, float] = {
    "no thank you": -1.5, "no thanks": -1.5, "not interested": -2.0, "stop calling": -2.8,
    "take me off": -2.5, "do not call": -2.5, "don't call": -2.5, "waste of time": -2.8,
    "leave me alone": -2.8, "fed up": -2.2, "not a fit": -1.2, "not the right time": -1.0,
    "sounds good": 2.0, "sounds great": 2.6, "sounds interesting": 2.0, "makes sense": 1.2,
    "of course": 1.0, "no problem": 1.2, "no worries": 1.2, "that works": 1.2, "not bad": 1.2,
    "thank you": 1.5, "count me in": 2.2, "let's do it": 2.2, "looking forward": 2.0,
}

NEGATORS: frozenset[str] = frozenset({
    "not", "never", "none", "nobody", "nothing", "neither", "nor", "cannot", "without", "hardly", "barely",
    "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont", "wouldnt", "shouldnt", "couldnt",
    "cant", "havent", "hasnt", "hadnt", "aint",
})

BOOSTERS: frozenset[str] = frozenset({
    "very", "really", "so", "extremely", "absolutely", "incredibly", "totally", "super", "truly", "too",
    "completely", "highly", "most", "much", "pretty", "seriously", "utterly", "way",
})

DAMPENERS: frozenset[str] = frozenset({
    "slightly", "somewhat", "kinda", "sorta", "kind_of", "sort_of", "a_bit", "little", "marginally", "partly",
    "fairly", "almost", "maybe", "perhaps",
})

# Softening expressions joined into one token before scoring ("kind of" is not the word "kind").
JOINED: dict[str, str] = {"kind of": "kind_of", "sort of": "sort_of", "a bit": "a_bit", "a little": "a_bit"}

CONTRASTS: frozenset[str] = frozenset({"but", "however", "though", "although"})
