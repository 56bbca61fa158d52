"""The write-only signing secret of call notify items (events.md §3, api.md §5)."""

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
