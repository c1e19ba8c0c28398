"""One example twin for the whole session (idle 3 s), made cold again before each test that asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.support import EXAMPLE_CONFIG, TwinProcess

IDLE_SECONDS = 3


@pytest.fixture(scope="session")
def example_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinProcess]:
    twin = TwinProcess(EXAMPLE_CONFIG, idle=IDLE_SECONDS, log_dir=tmp_path_factory.mktemp("twin"))
    try:
        yield twin
    finally:
        code = twin.stop()
        assert code == 0, twin.log()
        assert twin.leftovers() == [], twin.log()


@pytest.fixture
def cold_twin(example_twin: TwinProcess) -> TwinProcess:
    example_twin.make_cold()
    return example_twin
