"""Every id in an API path is checked before it reaches the database (issue 8): a NUL, which
PostgreSQL text cannot hold, or any other malformed id answers the documented error, never 500."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel
from tests.accounts.factories import EmployeeFactory, issue_token
from tests.routes import api_endpoints

pytestmark = pytest.mark.django_db

PLACES = ("<str:customer_id>", "<str:pk>", "<str:peer_id>", "<str:host_ip>", "<str:number>")
BAD_IDS = ["0101\x00", "\x00", "a" * 23 + "\x00", "+45\x0070305050", "1" * 5000]


def _urls(route: str, admin_customer: str) -> list[str]:
    urls = []
    for place in PLACES:
        if place not in route:
            continue
        for bad in BAD_IDS:
            url = "/" + route.replace(place, bad)
            for other in PLACES:  # the other ids in the path are well-formed
                url = url.replace(other, {"<str:customer_id>": admin_customer, "<str:host_ip>": "192.0.2.1",
                                          "<str:number>": "+4570000000", "<str:peer_id>": "TDC"}.get(other, "a" * 24))
            urls.append(url)
    return urls


CASES = [(route, method) for _name, route, method in api_endpoints() if any(p in route for p in PLACES)]


@pytest.mark.parametrize(("route", "method"), CASES, ids=[f"{m} {r}" for r, m in CASES])
def test_a_malformed_path_id_is_not_found_never_a_server_error(api_client, route, method):
    admin = EmployeeFactory(access_level=AccessLevel.ADMIN)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(admin)}")
    for url in _urls(route, admin.customer_id):
        response = api_client.generic(method, url, '{"name": "x", "down": true}', content_type="application/json")
        body = response.json()
        assert response.status_code in (400, 404, 422), (url, body)
        assert set(body) == {"error"} and body["error"]["status"] == response.status_code
