"""Each test starts with no routing index built, as a fresh process would."""

from collections.abc import Iterator

import pytest

from sbcrules.index import routing_index


@pytest.fixture(autouse=True)
def _fresh_routing_index() -> Iterator[None]:
    routing_index.reset()
    yield
    routing_index.reset()
