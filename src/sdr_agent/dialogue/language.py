"""Is the caller speaking a language other than English? Function words of the languages an SDR most often
hears decide it (no model needed for a phone turn of a few words), and the agent's "I speak English, we'll
follow up" line is said in that language when the call's voice can speak it."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
# Frequent words that are not also common English words.


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Frequent words that are not also common English words.
_MARKERS: dict[str, frozenset[str]] = {
    "es": _words(
        "hola quién quien habla hablo usted qué que buenos buenas días dias tardes gracias sí señor señora "
        "por favor está esta llamando llama inglés ingles español espanol no entiendo puede cómo como bueno "
        "dónde donde el la los las una uno soy es con para de del y pero"
    ),
    "fr": _words(
        "bonjour allô allo qui est-ce parle je vous oui non merci monsieur madame pourquoi appelez anglais "
        "français francais comprends pas c'est le la les une un avec pour et mais"
    ),
    "de": _words(
        "hallo guten tag wer ist da spricht ich sie ja nein danke bitte warum rufen englisch deutsch "
        "verstehe nicht das der die und aber mit für"
    ),
    "pt": _words(
        "olá ola alô alo quem fala você voce sim não nao obrigado obrigada por favor inglês português "
        "portugues entendo bom dia boa tarde o a os as um uma com para e mas"
    ),
    "it": _words(
        "pronto ciao buongiorno buonasera chi parla lei sì grazie perché perche chiama inglese italiano "
        "capisco non il lo la gli una uno con per e ma"
    ),
}
_ENGLISH = _words(
    "the a an is are you i we it this that what who how hello hi yes no okay ok speaking here not can do "
    "calling call about my your me with for and but please thanks thank"
)

FOLLOW_UP_LINES: dict[str, str] = {
    "en": "I'm sorry, I can only speak English on this call. Someone from our team will follow up with "
    "you. Goodbye!",
    "es": "Lo siento, en esta llamada solo puedo hablar inglés. Alguien de nuestro equipo le "
    "contactará. ¡Adiós!",
    "fr": "Je suis désolé, je ne parle qu'anglais sur cet appel. Quelqu'un de notre équipe vous "
    "recontactera. Au revoir !",
    "de": "Es tut mir leid, ich kann in diesem Gespräch nur Englisch sprechen. Jemand aus unserem Team "
    "meldet sich bei Ihnen. Auf Wiederhören!",
    "pt": "Desculpe, nesta chamada só posso falar inglês. Alguém da nossa equipe vai entrar em "
    "contato. Tchau!",
    "it": "Mi dispiace, in questa chiamata posso parlare solo inglese. Qualcuno del nostro team la "
    "ricontatterà. Arrivederci!",
}


def detect_language(text: str) -> str | None:
    """ISO code of a non-English language the turn is clearly in; None for English or too little to tell."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return None
    english = sum(1 for w in words if w in _ENGLISH)
    best, best_hits = None, 0
    for code, markers in _MARKERS.items():
        hits = sum(1 for w in words if w in markers)
        if hits > best_hits:
            best, best_hits = code, hits
    accents = bool(re.search(r"[¿¡ñáéíóúãõçàèìòùâêôäöüß]", text.lower()))
    if best is None or (best_hits < 2 and not (accents and best_hits >= 1)):
        return None
    return best if best_hits > english else None


def follow_up_line(language: str, supported: frozenset[str]) -> str:
    """The line in the caller's language when the voice can speak it, else in English."""
    return (
        FOLLOW_UP_LINES[language]
        if language in supported and language in FOLLOW_UP_LINES
        else (FOLLOW_UP_LINES["en"])
    )
