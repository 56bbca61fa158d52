"""Send-time address safety (docs/callevents.md §3): resolve, refuse if any address is refused, never connect."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from callnotify.addresses import use_resolver
from callnotify.delivery import attempt_delivery
from callnotify.models import Attempt, CallNotify, Delivery
from tests.accounts.factories import CustomerFactory
from tests.callnotify.factories import post_event

pytestmark = pytest.mark.django_db


def saved_endpoint(url: str) -> CallNotify:
    """Saved the way the API and admin save: through the full validation, name resolved then."""
    notify = CallNotify(customer=CustomerFactory(), url=url, method="POSTJSON", selection="ALL")
    notify.full_clean()
    notify.save()
    return notify


@pytest.mark.parametrize("rebound_to", [["127.0.0.1"], ["169.254.169.254"], ["93.184.215.14", "127.0.0.1"], ["::1"], ["::ffff:127.0.0.1"]])
def test_name_that_now_resolves_to_a_refused_address_is_never_contacted(rebound_to: list[str], dns, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    notify = saved_endpoint(f"http://hooks.example.com:{httpserver.port}/hook")  # 93.184.215.14 at save time
    dns["hooks.example.com"] = rebound_to
    delivery = Delivery.objects.get(event=post_event(notify.customer).event)

    assert attempt_delivery(delivery.id) == "failed"

    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED and delivery.attempts == 1
    assert delivery.last_error == "refused: URL points to an invalid hostname"
    assert list(delivery.attempt_log.values_list("outcome", flat=True)) == [Attempt.Outcome.FAILED]
    assert httpserver.log == []


def test_ip_literal_refused_at_send_time_when_the_policy_changed(settings, httpserver: HTTPServer) -> None:
    settings.CALLNOTIFY_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    httpserver.expect_request("/hook").respond_with_data("ok")
    notify = saved_endpoint(f"http://127.0.0.1:{httpserver.port}/hook")
    settings.CALLNOTIFY_ALLOWED_NETWORKS = []  # the operator withdrew the network
    delivery = Delivery.objects.get(event=post_event(notify.customer).event)
    attempt_delivery(delivery.id)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.last_error) == (Delivery.State.FAILED, "refused: URL points to an invalid IP address")
    assert httpserver.log == []


def test_name_is_resolved_once_and_the_checked_address_is_the_one_connected(settings, httpserver: HTTPServer) -> None:
    """A second look-up would get the metadata address; only the first answer may be used."""
    settings.CALLNOTIFY_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    httpserver.expect_request("/hook").respond_with_data("ok")
    notify = CallNotify.objects.create(customer=CustomerFactory(), url=f"http://flip.example.com:{httpserver.port}/hook",
                                       method="POSTJSON", selection="ALL")
    answers = [["127.0.0.1"], ["169.254.169.254"], ["169.254.169.254"]]
    lookups: list[str] = []

    def flipping(name: str) -> list[str]:
        lookups.append(name)
        return answers[len(lookups) - 1]

    delivery = Delivery.objects.get(event=post_event(notify.customer).event)
    with use_resolver(flipping):
        attempt_delivery(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED
    assert lookups == ["flip.example.com"]
    assert len(httpserver.log) == 1


def test_loopback_without_the_setting_is_refused(httpserver: HTTPServer, dns) -> None:
    dns["sink.example.com"] = ["127.0.0.1"]
    httpserver.expect_request("/hook").respond_with_data("ok")
    notify = CallNotify.objects.create(customer=CustomerFactory(), url=f"http://sink.example.com:{httpserver.port}/hook",
                                       method="POSTJSON", selection="ALL")
    delivery = Delivery.objects.get(event=post_event(notify.customer).event)
    attempt_delivery(delivery.id)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED and delivery.last_error.startswith("refused:")
    assert httpserver.log == []
