"""Schemathesis against our own OpenAPI schema: no 500s, and no answer the schema contradicts.

Every operation is called with generated input as an ADMIN and as a VIEWER, with the path's
customer id set to a real customer so requests get past the customer check. FUZZ_EXAMPLES
(default 15 per operation) sets the depth. Not in the default run (it takes a minute or two);
CI runs it on PostgreSQL with `bin/test -m fuzz`; a longer run by hand:
`FUZZ_EXAMPLES=500 bin/test -m fuzz`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis.specs.openapi.checks import ignored_auth, negative_data_rejection, positive_data_acceptance

from accounts.models import AccessLevel
from tests.accounts.factories import CustomerFactory, EmployeeFactory, issue_token

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
pytestmark = pytest.mark.fuzz


from telecomx.wsgi import application  # noqa: E402  (pytest-django has set Django up)

# Loaded at collection: the schema view reads no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """Calls go straight into the WSGI app, whose request signals would close the database
    connection holding the test's transaction; Django's own test client unhooks them the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def callers(db):
    customer = CustomerFactory(reseller=True, features=["FINANCE", "TELE"])
    return customer, {
        "ADMIN": issue_token(EmployeeFactory(customer=customer, access_level=AccessLevel.ADMIN)),
        "VIEWER": issue_token(EmployeeFactory(customer=customer, access_level=AccessLevel.VIEWER)),
    }


def call_and_validate(case, callers, level: str) -> None:
    customer, tokens = callers
    if case.path_parameters and "customer_id" in case.path_parameters:
        case.path_parameters["customer_id"] = customer.pk
    response = case.call(headers={"Authorization": f"Bearer {tokens[level]}"})
    # Not applicable here: every call carries a valid token (so "ignored auth" would always
    # fire, and a request "missing" its Authorization header is not), the API rightly refuses
    # schema-valid values its rules forbid (a URL into a private network is a string like any
    # other) with the documented 422, and it ignores unknown properties and query parameters
    # (docs/api.md §1) rather than refusing them.
    case.validate_response(
        response, excluded_checks=[ignored_auth, positive_data_acceptance, negative_data_rejection]
    )


FUZZ = hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))


@schema.parametrize()
@FUZZ
@pytest.mark.django_db
def test_api_as_admin_answers_within_its_schema(case, callers):
    call_and_validate(case, callers, "ADMIN")


@schema.parametrize()
@FUZZ
@pytest.mark.django_db
def test_api_as_viewer_answers_within_its_schema(case, callers):
    call_and_validate(case, callers, "VIEWER")
