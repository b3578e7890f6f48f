"""Reads the TwiML our server returns, the way the Twilio stand-in needs it: a flat list of verbs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


class TwimlError(ValueError):
    """The document is not TwiML Twilio would run (Twilio: error 12100, document parse failure)."""


@dataclass(frozen=True, slots=True)
class Verb:
    name: str  # Say, Connect, Dial, Hangup, Pause, Play, Redirect, Reject, ...
    text: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    stream_url: str | None = None  # Connect → Stream url
    stream_parameters: dict[str, str] = field(default_factory=dict)


def read_twiml(document: str) -> list[Verb]:
    try:
        root = ET.fromstring(document)
    except ET.ParseError as exc:
        raise TwimlError(f"TwiML does not parse: {exc}") from None
    if root.tag != "Response":
        raise TwimlError(f"TwiML root must be <Response>, got <{root.tag}>")
    verbs: list[Verb] = []
    for element in root:
        if element.tag == "Connect":
            verbs.append(_connect(element))
        elif element.tag == "Dial":
            number = (element.text or "").strip()
            if not number:
                child = element.find("Number")
                number = (child.text or "").strip() if child is not None else ""
            verbs.append(Verb("Dial", number, dict(element.attrib)))
        else:
            verbs.append(Verb(element.tag, (element.text or "").strip(), dict(element.attrib)))
    return verbs


def _connect(element: ET.Element) -> Verb:
    stream = element.find("Stream")
    if stream is None:
        return Verb("Connect", attributes=dict(element.attrib))
    url = stream.get("url")
    if not url:
        raise TwimlError("<Stream> without a url attribute")
    parameters: dict[str, str] = {}
    for parameter in stream.findall("Parameter"):
        name = parameter.get("name")
        if name:
            parameters[name] = parameter.get("value", "")
    return Verb("Connect", attributes=dict(element.attrib), stream_url=url, stream_parameters=parameters)
