"""Data and targets of bench/api.py beyond call notify: 1,000 rules, a route look-up, call events."""

from __future__ import annotations

PREFIX_RULES = 1000


def load(*, customer, admin) -> dict:  # type: ignore[no-untyped-def]
    from sbcrules.index import mark_routing_changed
    from sbcrules.models import Host, Peer, Rule

    peers = [Peer.objects.create(id=name, name=name, default=(name == "TDC")) for name in ("TDC", "TELENOR", "TELIA")]
    Host.objects.bulk_create(Host(peer=peer, address=f"192.0.2.{n + 1}") for n, peer in enumerate(peers))
    Rule.objects.bulk_create(
        Rule(type="PREFIX", condition=f"+45{n:04d}", peer=peers[n % 3]) for n in range(PREFIX_RULES)
    )
    mark_routing_changed()

    from accounts.models import Customer
    from callnotify.models import CallNotify

    # Call events go to a customer with two endpoints (one delivery each per event); delivery
    # itself is off in the benchmark (CALLNOTIFY_IN_PROCESS=off, no broker): it measures ingestion.
    caller = Customer.objects.create(name="Bench Calls ApS")
    for n in (1, 2):
        CallNotify.objects.create(customer=caller, url=f"http://127.0.0.1:9/call{n}", method="POSTJSON", selection="ALL")
    from accounts.models import ApiKey

    # The switch's own credential: a service account's API key (docs/switch.md).
    return {"caller": caller.pk, "key": ApiKey.objects.issue(name="bench-switch", created_by=admin)[1]}


def targets(setup: dict) -> list[tuple]:
    route = "?bnumber=%2B4500421234&anumber=%2B4512345678"
    event = (
        '{"callId": "bench-{n}", "customer": "%s", "type": "SIP", "direction": "INBOUND", "state": "RINGING",'
        ' "aNumber": "+4512345678", "bNumber": "+4570305050", "timestamp": "2026-11-22T10:15:00Z"}' % setup["caller"]
    )
    return [
        ("call event post", "POST", "/api/callevent", event, "/bare/callevent", event),
        ("rule list (1,000)", "GET", "/api/sbc/rule", None, "/bare/rule", None),
        ("route look-up", "GET", f"/api/sbc/route{route}", None, f"/bare/route{route}", None),
        ("route look-up (API key)", "GET", f"/api/sbc/route{route}", None, f"/bare/route{route}", None, setup["key"]),
        # the same, against a bare look-up that also makes the one indexed credential probe
        ("route look-up (API key) vs bare + probe", "GET", f"/api/sbc/route{route}", None, f"/bare/route-probed{route}", None,
         setup["key"]),
        ("call event post (API key)", "POST", "/api/callevent", event, "/bare/callevent", event, setup["key"]),
    ]
