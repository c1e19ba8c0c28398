"""The model table: one source per number, and the docs carry the same table."""

from __future__ import annotations

from pathlib import Path

from warmkeeper_sim.figures import BUCKETS, FIGURES, markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "technical" / "aws-model.md"


def test_every_number_has_a_source() -> None:
    for name, item in FIGURES.items():
        assert item.source.strip(), name
        assert item.high is None or item.high >= item.low, name
    for name, bucket in BUCKETS.items():
        assert bucket.source.strip() and bucket.operations, name
        assert bucket.burst >= 1 and bucket.refill > 0, name


def test_docs_carry_the_model_table_verbatim() -> None:
    assert markdown_table() in DOC.read_text(encoding="utf-8"), (
        "docs/technical/aws-model.md is out of date: paste warmkeeper_sim.figures.markdown_table() into it"
    )


def test_the_stage_throttle_in_the_table_is_the_example_configs() -> None:
    """The simulation throttles each route with what the stack gives the stage (the config's keys);
    the table says the same numbers."""
    from warmkeeper_sim.world import SimConfig, example_stage_throttle

    rate, burst = example_stage_throttle()
    assert (FIGURES["apigw.stage_rate_limit"].value, FIGURES["apigw.stage_burst_limit"].value) == (
        rate,
        burst,
    )
    assert (SimConfig().api_rate_limit, SimConfig().api_burst_limit) == (rate, burst)
