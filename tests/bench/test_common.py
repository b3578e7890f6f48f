"""bench/common.py: percentiles, summaries, result files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.common import percentile, ratio, summary, target_check, write_result


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([10, 20, 30, 40], 50) == 25.0
    assert percentile([5], 95) == 5.0
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == pytest.approx(9.55)
    assert percentile([], 50) is None
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_summary_and_ratio_handle_empty_input() -> None:
    assert summary([]) == {"n": 0, "p50": None, "p95": None, "max": None}
    assert summary([3.0, 1.0, 2.0]) == {"n": 3, "p50": 2.0, "p95": 2.9, "max": 3.0}
    assert ratio(1, 0) is None
    assert ratio(1, 3) == 0.3333


def test_target_check_directions() -> None:
    assert target_check(600, 700) == "met"
    assert target_check(800, 700) == "MISSED"
    assert target_check(0.96, 0.95, at_least=True) == "met"
    assert target_check(None, 1) == "n/a"


def test_write_result_writes_json_and_prints_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_result("demo", {"bench": "demo", "value": 1.5}, results_dir=tmp_path)
    assert json.loads(path.read_text()) == {"bench": "demo", "value": 1.5}
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == {"bench": "demo", "value": 1.5}
