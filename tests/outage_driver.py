"""Run in a subprocess by test_outages.py: a real database for a web node whose dependencies go away.

    python -m tests.outage_driver SINK_PORT
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telecomx.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from accounts.models import AccessLevel, ApiKey, Customer, Employee, Token  # noqa: E402
from callnotify.models import CallNotify  # noqa: E402
from sbcrules.models import Host, Peer, Rule  # noqa: E402


def setup(port: int) -> None:
    call_command("migrate", verbosity=0)
    operator = Customer.objects.create(name="Operator", is_reseller=True, features=["FINANCE", "TELE"])
    admin = Employee.objects.create_user("ops@example.com", None, customer=operator, access_level=AccessLevel.ADMIN)
    customer = Customer.objects.create(name="Outage ApS", parent_reseller=operator)
    endpoint = CallNotify(customer=customer, url=f"http://127.0.0.1:{port}/hook", method="POSTJSON", selection="ALL")
    endpoint.full_clean()
    endpoint.save()
    for name, default in (("TDC", True), ("TELENOR", False)):
        peer = Peer.objects.create(id=name, name=name, default=default)
        Host.objects.create(peer=peer, address="192.0.2.1")
    Rule.objects.create(type=Rule.Type.PREFIX, condition="+4570", peer_id="TELENOR")
    key, raw = ApiKey.objects.issue(name="kamailio-1", created_by=admin)
    _, unused = ApiKey.objects.issue(name="kamailio-2", created_by=admin)
    print(json.dumps({
        "customer": customer.pk, "token": Token.objects.issue(admin, persist=True)[1],
        "key": raw, "keyId": key.pk, "unusedKey": unused,
    }))


if __name__ == "__main__":
    setup(int(sys.argv[1]))
