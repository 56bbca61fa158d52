"""The call notify URL rule table (docs/api.md §5): one row per documented error, and accepted URLs."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel
from callnotify.models import CallNotify
from tests.accounts.factories import EmployeeFactory
from tests.callnotify.factories import ACCEPTED, BAD_IP, BAD_NAME, INVALID_URL, REJECTED

pytestmark = pytest.mark.django_db

@pytest.fixture
def items_url(client_for):
    employee = EmployeeFactory(access_level=AccessLevel.OWNER)
    return client_for(employee), f"/api/customer/{employee.customer_id}/callnotify"


@pytest.mark.parametrize(("url", "message"), REJECTED)
def test_rejected_url_answers_documented_error(items_url, url, message):
    client, path = items_url
    response = client.post(path, {"url": url, "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "url", "status": 422, "message": message, "path": "url"}}
    assert CallNotify.objects.count() == 0


@pytest.mark.parametrize("url", ACCEPTED)
def test_accepted_url_is_stored(items_url, url):
    client, path = items_url
    response = client.post(path, {"url": url, "method": "GET2", "selection": "SIP"}, format="json")
    assert response.status_code == 201, response.json()
    assert CallNotify.objects.get().url == url


def test_missing_url_is_invalid_url(items_url):
    client, path = items_url
    response = client.post(path, {"method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.json()["error"] == {"code": "url", "status": 422, "message": INVALID_URL, "path": "url"}


@pytest.mark.parametrize(
    ("networks", "url"),
    [
        (["127.0.0.0/8"], "http://127.0.0.1:8080/hook"),
        (["127.0.0.0/8"], "http://127.1:8080/hook"),
        (["127.0.0.0/8"], "http://[::ffff:127.0.0.1]:8080/hook"),
        (["10.20.0.0/16"], "tcp://10.20.3.4:5000"),
        (["::1/128"], "udp://[::1]:5060"),
    ],
)
def test_allowed_networks_setting_lets_private_addresses_through(items_url, settings, networks, url):
    settings.CALLNOTIFY_ALLOWED_NETWORKS = networks
    client, path = items_url
    response = client.post(path, {"url": url, "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.status_code == 201, response.json()


def test_allowed_networks_do_not_open_other_private_ranges(items_url, settings):
    settings.CALLNOTIFY_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    client, path = items_url
    response = client.post(path, {"url": "http://10.21.0.1/", "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.json()["error"]["message"] == BAD_IP


def test_unresolvable_name_is_accepted_when_resolution_is_off(items_url, settings):
    settings.CALLNOTIFY_RESOLVE_HOSTNAMES = False
    client, path = items_url
    response = client.post(path, {"url": "https://nx.example.com/", "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.status_code == 201


def test_internal_names_are_refused_even_when_resolution_is_off(items_url, settings):
    settings.CALLNOTIFY_RESOLVE_HOSTNAMES = False
    client, path = items_url
    response = client.post(path, {"url": "http://localhost/", "method": "POSTJSON", "selection": "ALL"}, format="json")
    assert response.json()["error"]["message"] == BAD_NAME
