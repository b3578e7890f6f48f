"""X-Twilio-Signature helpers, checked against the twilio library's own test vector."""

from __future__ import annotations

from sdr_agent.telephony.twilio.signature import FormParams, compute_signature, is_valid_signature, public_url

VECTOR_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
VECTOR_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675309",
    "Digits": "1234",
    "From": "+14158675309",
    "To": "+18005551212",
}
VECTOR_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_protocols_test_vector() -> None:
    assert compute_signature("12345", VECTOR_URL, VECTOR_PARAMS) == VECTOR_SIGNATURE
    assert is_valid_signature("12345", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)


def test_any_change_invalidates_the_signature() -> None:
    assert not is_valid_signature("12346", VECTOR_URL, VECTOR_PARAMS, VECTOR_SIGNATURE)
    assert not is_valid_signature("12345", VECTOR_URL + "&x=1", VECTOR_PARAMS, VECTOR_SIGNATURE)
    assert not is_valid_signature("12345", VECTOR_URL, {**VECTOR_PARAMS, "To": "+1800"}, VECTOR_SIGNATURE)
    assert not is_valid_signature("12345", VECTOR_URL, {**VECTOR_PARAMS, "Extra": "1"}, VECTOR_SIGNATURE)


def test_missing_signature_or_token_never_validates() -> None:
    assert not is_valid_signature("12345", VECTOR_URL, VECTOR_PARAMS, None)
    assert not is_valid_signature("12345", VECTOR_URL, VECTOR_PARAMS, "")
    empty_token_signature = compute_signature("", VECTOR_URL, VECTOR_PARAMS)
    assert not is_valid_signature("", VECTOR_URL, VECTOR_PARAMS, empty_token_signature)


def test_repeated_form_keys_are_all_signed() -> None:
    params = FormParams(
        [("StatusCallbackEvent", "initiated"), ("StatusCallbackEvent", "completed"), ("To", "+1")]
    )
    signature = compute_signature("tok", "https://a.test/x", params)

    assert is_valid_signature("tok", "https://a.test/x", params, signature)
    assert is_valid_signature(
        "tok", "https://a.test/x", {"StatusCallbackEvent": ["completed", "initiated"], "To": "+1"}, signature
    )
    assert not is_valid_signature(
        "tok", "https://a.test/x", {"StatusCallbackEvent": "initiated", "To": "+1"}, signature
    )


def test_explicit_default_port_is_accepted_like_twilio() -> None:
    signature = compute_signature("tok", "https://a.test/twiml/status", {"CallSid": "CA1"})
    assert is_valid_signature("tok", "https://a.test:443/twiml/status", {"CallSid": "CA1"}, signature)


def test_public_url_joins_base_path_and_query() -> None:
    assert public_url("https://a.test/", "/twiml/status") == "https://a.test/twiml/status"
    assert public_url("https://a.test", "twiml/status", "conversation_id=c1") == (
        "https://a.test/twiml/status?conversation_id=c1"
    )


def test_form_params_view() -> None:
    params = FormParams([("A", "1"), ("A", "2"), ("B", "3")])
    assert params.getlist("A") == ["1", "2"] and params.getlist("C") == []
    assert params.first("A") == "1" and params.first("C", "none") == "none"
    assert params.as_dict() == {"A": "1", "B": "3"}
    assert "B" in params and len(params) == 2 and sorted(params) == ["A", "B"]
