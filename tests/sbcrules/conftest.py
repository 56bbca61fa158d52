"""`admin`: an ADMIN's API client (the fresh routing index of each test is tests/conftest.py's)."""

import pytest

from tests.accounts.factories import EmployeeFactory


@pytest.fixture
def admin(client_for):
    """An API client of an ADMIN employee."""
    return client_for(EmployeeFactory(admin=True))
