"""The write-only signing secret of call notify items (docs/callevents.md §3-4, docs/api.md §5)."""

from __future__ import annotations

import base64

import pytest

from accounts.models import AccessLevel
from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db
VALID = "whsec_" + base64.b64encode(bytes(range(32))).decode()


@pytest.fixture
def owner(client_for):
    return client_for(EmployeeFactory(customer=CustomerFactory(), access_level=AccessLevel.OWNER))



def create(owner, **extra: object):
    customer_id = EmployeeFactory._meta.model.objects.get(access_level=AccessLevel.OWNER).customer_id
    body = {"url": "https://hooks.example.com/call", "method": "POSTJSON", "selection": "ALL", **extra}
    return owner.post(f"/api/customer/{customer_id}/callnotify", body, format="json"), customer_id


def test_generated_secret_is_shown_once_and_stored(owner) -> None:
    response, customer_id = create(owner, secret="generate")
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    item = CallNotify.objects.get()
    assert item.secret == secret
    again = owner.get(f"/api/customer/{customer_id}/callnotify/{item.id}").json()
    assert "secret" not in again
    assert all("secret" not in entry for entry in owner.get(f"/api/customer/{customer_id}/callnotify").json())


def test_a_client_secret_is_stored_and_never_shown(owner) -> None:
    response, _ = create(owner, secret=VALID)
    assert response.status_code == 201 and "secret" not in response.json()
    assert CallNotify.objects.get().secret == VALID


@pytest.mark.parametrize("bad", ["secret", "whsec_", "whsec_" + base64.b64encode(b"x" * 23).decode(),
                                 "whsec_" + base64.b64encode(b"x" * 65).decode(), "whsec_not base64!", 42])
def test_invalid_secrets_are_refused(owner, bad: object) -> None:
    response, _ = create(owner, secret=bad)
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "secret", "status": 422, "message": "Invalid secret", "path": "secret"}}
    assert CallNotify.objects.count() == 0


@pytest.mark.parametrize("clear", ["", None])
def test_update_can_regenerate_and_clear_the_secret(owner, clear: object) -> None:
    response, customer_id = create(owner, secret=VALID)
    item_url = f"/api/customer/{customer_id}/callnotify/{response.json()['_id']}"
    regenerated = owner.patch(item_url, {"secret": "generate"}, format="json").json()["secret"]
    assert regenerated != VALID and CallNotify.objects.get().secret == regenerated
    unrelated = owner.patch(item_url, {"selection": "SIP"}, format="json").json()
    assert "secret" not in unrelated and CallNotify.objects.get().secret == regenerated
    assert owner.patch(item_url, {"secret": clear}, format="json").status_code == 200
    assert CallNotify.objects.get().secret == ""


@pytest.mark.parametrize("url", ["tcp://hooks.example.com:5000", "udp://hooks.example.com:5000", "TCP://hooks.example.com:5000"])
@pytest.mark.parametrize("secret", ["generate", VALID])
def test_tcp_and_udp_endpoints_cannot_be_signed(owner, url: str, secret: str) -> None:
    response, _ = create(owner, url=url, method="POSTJSON", secret=secret)
    assert (response.status_code, response.json()) == (422, {"error": {
        "code": "secret", "status": 422, "message": "Only http and https endpoints can be signed", "path": "secret"}})
    assert not CallNotify.objects.exists()


def test_a_signed_endpoint_moved_to_tcp_must_drop_its_secret(owner) -> None:
    response, customer_id = create(owner, secret=VALID)
    item_url = f"/api/customer/{customer_id}/callnotify/{response.json()['_id']}"
    refused = owner.patch(item_url, {"url": "tcp://hooks.example.com:5000"}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (422, "secret")
    assert CallNotify.objects.get().url == "https://hooks.example.com/call"
    moved = owner.patch(item_url, {"url": "tcp://hooks.example.com:5000", "secret": ""}, format="json")
    assert moved.status_code == 200
    assert CallNotify.objects.values_list("url", "secret").get() == ("tcp://hooks.example.com:5000", "")


def test_an_unsigned_tcp_endpoint_is_fine(owner) -> None:
    response, _ = create(owner, url="tcp://hooks.example.com:5000", secret="")
    assert response.status_code == 201 and "secret" not in response.json()
