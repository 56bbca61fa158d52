"""Data migrations do what they say."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from tests.callnotify.factories import CallNotifyFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["0006_no_secret_on_tcp_udp", "0009_no_secret_on_tcp_udp_again"])
def test_secrets_stored_on_tcp_and_udp_endpoints_are_removed(name):
    migration = importlib.import_module(f"callnotify.migrations.{name}")
    secret = "whsec_" + "A" * 32
    tcp = CallNotifyFactory(url="TCP://100.64.0.1:5000", secret=secret)
    udp = CallNotifyFactory(url="udp://100.64.0.1:5000", secret=secret)
    http = CallNotifyFactory(url="http://100.64.0.1:5000/x", secret=secret)
    migration.drop_unusable_secrets(apps, None)
    for item, expected in ((tcp, ""), (udp, ""), (http, secret)):
        item.refresh_from_db()
        assert item.secret == expected
