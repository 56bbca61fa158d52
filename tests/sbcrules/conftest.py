"""Each test starts with no routing index built, as a fresh process would; `admin` is an ADMIN's client."""

from collections.abc import Iterator

import pytest

from sbcrules.index import routing_index
from tests.accounts.factories import EmployeeFactory


@pytest.fixture(autouse=True)
def _fresh_routing_index() -> Iterator[None]:
    routing_index.reset()
    yield
    routing_index.reset()


@pytest.fixture
def admin(client_for):
    """An API client of an ADMIN employee."""
    return client_for(EmployeeFactory(admin=True))
