"""TwiML documents we serve, read back the way Twilio (and the stand-in) reads them."""

from __future__ import annotations

import pytest

from sdr_agent.sim.twiml_reader import TwimlError, read_twiml
from sdr_agent.telephony.twilio.twiml import hangup_twiml, say_hangup_twiml, stream_twiml, transfer_twiml


def test_stream_twiml_connects_a_bidirectional_stream_with_parameters() -> None:
    document = stream_twiml("wss://agent.test/ws/voice/CA1", {"token": 'a&b"<c', "agent_id": "agent_1"})
    verbs = read_twiml(document)

    assert document.startswith('<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream')
    assert [v.name for v in verbs] == ["Connect"]
    assert verbs[0].stream_url == "wss://agent.test/ws/voice/CA1"
    assert verbs[0].stream_parameters == {"token": 'a&b"<c', "agent_id": "agent_1"}


@pytest.mark.parametrize("url", ["https://agent.test/ws", "wss://agent.test/ws?token=1"])
def test_stream_twiml_refuses_urls_twilio_cannot_use(url: str) -> None:
    with pytest.raises(ValueError):
        stream_twiml(url, {})


def test_stream_twiml_refuses_oversized_parameters() -> None:
    with pytest.raises(ValueError):
        stream_twiml("wss://a.test/ws", {"x": "y" * 500})


def test_transfer_twiml_says_the_handoff_then_dials() -> None:
    verbs = read_twiml(transfer_twiml("+15550001111", say="Connecting you now."))
    assert [(v.name, v.text) for v in verbs] == [("Say", "Connecting you now."), ("Dial", "+15550001111")]
    assert [v.name for v in read_twiml(transfer_twiml(" +15550001111 "))] == ["Dial"]
    with pytest.raises(ValueError):
        transfer_twiml("  ")


def test_say_hangup_and_hangup() -> None:
    verbs = read_twiml(say_hangup_twiml("Sorry & goodbye."))
    assert [(v.name, v.text) for v in verbs] == [("Say", "Sorry & goodbye."), ("Hangup", "")]
    assert [v.name for v in read_twiml(hangup_twiml())] == ["Hangup"]


def test_reader_rejects_non_twiml() -> None:
    with pytest.raises(TwimlError):
        read_twiml("<html></html>")
    with pytest.raises(TwimlError):
        read_twiml("not xml")
    with pytest.raises(TwimlError):
        read_twiml("<Response><Connect><Stream/></Connect></Response>")


def test_reader_takes_dial_number_child() -> None:
    verbs = read_twiml("<Response><Dial><Number>+15550002222</Number></Dial></Response>")
    assert (verbs[0].name, verbs[0].text) == ("Dial", "+15550002222")
