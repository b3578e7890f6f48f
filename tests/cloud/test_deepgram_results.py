"""Deepgram listen messages → the pipeline's partials and one final per utterance."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sdr_agent.engines.base import EngineError
from sdr_agent.engines.cloud.deepgram_results import UtteranceAssembler, parse_listen_message


def results(
    text: str,
    *,
    is_final: bool,
    speech_final: bool = False,
    from_finalize: bool = False,
    start: float = 0.0,
    duration: float = 0.5,
) -> str:
    payload: dict[str, Any] = {
        "type": "Results",
        "start": start,
        "duration": duration,
        "is_final": is_final,
        "speech_final": speech_final,
        "from_finalize": from_finalize,
        "channel": {"alternatives": [{"transcript": text, "confidence": 0.9, "words": []}]},
    }
    return json.dumps(payload)


def test_segments_join_into_one_final_and_partials_carry_the_whole_utterance() -> None:
    assembler = UtteranceAssembler()
    out = [
        assembler.on_results(parse_listen_message(raw), offset_s=10.0)
        for raw in (
            results("yes", is_final=False),
            results("yes tuesday", is_final=True, start=0.0, duration=1.0),
            results("works", is_final=False, start=1.0),
            results("works for me", is_final=True, speech_final=True, start=1.0, duration=1.0),
        )
    ]
    assert [(t.text, t.is_final, t.speech_final) for t in out if t] == [
        ("yes", False, False),
        ("yes tuesday", False, False),
        ("yes tuesday works", False, False),
        ("yes tuesday works for me", True, True),
    ]
    final = out[-1]
    assert final is not None and (final.start_s, final.end_s) == (10.0, 12.0)
    assert assembler.close(force=False) is None  # nothing left after the final


def test_utterance_end_closes_and_empty_results_are_silent() -> None:
    assembler = UtteranceAssembler()
    assert assembler.on_results(parse_listen_message(results("", is_final=False)), 0.0) is None
    assert assembler.on_results(parse_listen_message(results("", is_final=True)), 0.0) is None
    assembler.on_results(parse_listen_message(results("call me later", is_final=True)), 0.0)
    assert (
        parse_listen_message('{"type":"UtteranceEnd","channel":[0,1],"last_word_end":2.1}').kind
        == "UtteranceEnd"
    )
    final = assembler.close(force=False)
    assert final is not None and final.text == "call me later" and final.speech_final
    forced = assembler.close(force=True)
    assert forced is not None and forced.text == "" and forced.speech_final


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", '{"type":"Results","channel":{"alternatives":["x"]}}'])
def test_malformed_frames_are_engine_errors(raw: str) -> None:
    with pytest.raises(EngineError):
        parse_listen_message(raw)


def test_unknown_message_types_are_ignored() -> None:
    assert parse_listen_message('{"type":"Something","x":1}').kind == "Other"
    message = parse_listen_message(
        json.dumps(
            {
                "type": "Results",
                "is_final": True,
                "start": 1.0,
                "duration": 2.0,
                "channel": {"alternatives": [{"transcript": "hi", "words": [{"word": "hi", "end": 1.4}]}]},
            }
        )
    )
    assert message.speech_end_s == 1.4 and message.end_s == 3.0
