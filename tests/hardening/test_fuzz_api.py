"""A bounded schemathesis run over the server's own /openapi.json (``make fuzz`` runs a longer one): no server
errors, and every status code, content type, header and body as documented, for every route (new routes are
covered as soon as they are registered)."""

from __future__ import annotations

from bench.fuzz_api import run_fuzz


def test_schemathesis_finds_no_server_errors_and_no_undocumented_responses() -> None:
    # Fuzzing with a fixed seed, a few cases per operation (~30 s); the coverage phase's thousands of edge
    # cases run in `make fuzz`.
    result = run_fuzz(max_examples=5, phases="fuzzing", seed=1717)
    assert "API Operations" in result.output, result.output[-3000:]  # the run really happened
    assert result.ok, "\n".join(result.failures) + "\n" + result.output[-6000:]
