"""`manage.py importtrunks FILE` (docs/sbcrules.md, "Commands"): all or nothing, the API's messages,
no source in two trunks; and `manage.py route --source`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from sbcrules.models import Trunk, TrunkSource
from tests.accounts.factories import CustomerFactory
from tests.sbcrules.factories import PeerFactory, TrunkFactory

pytestmark = pytest.mark.django_db

HEADER = "customer,name,sources,maxCalls,callsPerSecond,trustCustomerHeader,state\n"


def run(tmp_path: Path, text: str, *args: str) -> None:
    path = tmp_path / "trunks.csv"
    path.write_text(text, encoding="utf-8")
    call_command("importtrunks", str(path), *args)


def test_a_file_of_trunks_is_imported_and_a_reimport_updates_by_name(tmp_path, capsys):
    hansen, nordic = CustomerFactory(), CustomerFactory(reseller=True)
    run(tmp_path, HEADER + f"{hansen.pk},Hansen PBX,203.0.113.7 198.51.100.0/28,30,5,,\n"
                           f"{nordic.pk.upper()},Border,2001:DB8::/32,,,true,DISABLED\n")
    assert "imported 2 trunks from 2 lines" in capsys.readouterr().out
    pbx, border = Trunk.objects.get(name="Hansen PBX"), Trunk.objects.get(name="Border")
    assert (pbx.customer_id, pbx.sources, pbx.max_calls, pbx.calls_per_second, pbx.trust_customer_header, pbx.state) == (
        hansen.pk, ["203.0.113.7", "198.51.100.0/28"], 30, 5, False, "ACTIVE")
    assert (border.customer_id, border.sources, border.max_calls, border.trust_customer_header, border.state) == (
        nordic.pk, ["2001:db8::/32"], None, True, "DISABLED")
    assert TrunkSource.objects.count() == 3
    # the same customer and name again: that trunk changes (its id stays), its old sources are free
    run(tmp_path, f"{hansen.pk},Hansen PBX,203.0.113.8\n")
    pbx.refresh_from_db()
    assert (Trunk.objects.count(), pbx.sources, pbx.max_calls) == (2, ["203.0.113.8"], None)
    assert set(TrunkSource.objects.values_list("network", flat=True)) == {"203.0.113.8", "2001:db8::/32"}


def test_bad_lines_are_all_reported_and_nothing_is_stored(tmp_path, capsys):
    hansen = CustomerFactory()
    TrunkFactory(customer=CustomerFactory(), sources=["192.0.2.0/24"])
    text = HEADER + "\n".join([
        f"{hansen.pk},ok,203.0.113.7",
        f"{'f' * 24},x,203.0.113.8",
        f"{hansen.pk},,203.0.113.9",
        f"{hansen.pk},y,not-an-address,0,x,maybe,OFF",
        f"{hansen.pk},z",
    ]) + "\n"
    with pytest.raises(CommandError, match="4 bad lines; nothing was imported"):
        run(tmp_path, text)
    assert capsys.readouterr().err.splitlines() == [
        "line 3: customer: Customer not found",
        "line 4: name: Name is invalid",
        "line 5: sources: Source is invalid; maxCalls: Max calls is invalid; callsPerSecond: Calls per second is invalid; "
        "trustCustomerHeader: Trust customer header is invalid; state: State is invalid",
        "line 6: expected 3 to 7 columns: customer,name,sources,maxCalls,callsPerSecond,trustCustomerHeader,state",
    ]
    assert Trunk.objects.count() == 1


def test_a_source_in_two_lines_or_held_by_a_stored_trunk_stores_nothing(tmp_path, capsys):
    hansen, other = CustomerFactory(), CustomerFactory()
    TrunkFactory(customer=other, name="stored", sources=["192.0.2.0/24"])
    text = (f"{hansen.pk},a,203.0.113.0/28\n"
            f"{hansen.pk},b,203.0.113.7\n"  # inside line 1's block
            f"{hansen.pk},c,192.0.2.77\n")  # inside the stored trunk's block
    with pytest.raises(CommandError, match="2 bad lines"):
        run(tmp_path, text)
    assert capsys.readouterr().err.splitlines() == [
        "line 2: sources: Source is used by another trunk (line 1)",
        "line 3: sources: Source is used by another trunk",
    ]
    assert list(Trunk.objects.values_list("name", "sources")) == [("stored", ["192.0.2.0/24"])]
    # a file that also rewrites the stored trunk elsewhere frees its old block for another line
    run(tmp_path, f"{hansen.pk},c,192.0.2.77\n{other.pk},stored,198.51.100.1\n")
    assert sorted(Trunk.objects.values_list("name", "sources")) == [("c", ["192.0.2.77"]), ("stored", ["198.51.100.1"])]


def test_replace_deletes_every_trunk_first(tmp_path):
    hansen = CustomerFactory()
    TrunkFactory(customer=hansen, name="old", sources=["192.0.2.1"])
    run(tmp_path, f"{hansen.pk},new,192.0.2.1\n", "--replace")
    assert list(Trunk.objects.values_list("name", flat=True)) == ["new"]


def test_an_import_reaches_the_routing_index(tmp_path, client_for):
    from django.contrib.auth.models import Permission

    from tests.accounts.factories import EmployeeFactory

    operator = CustomerFactory(reseller=True, is_operator=True)
    PeerFactory(id="TDC", hosts=["192.0.2.10"], default=True)
    switch = EmployeeFactory(customer=operator)
    switch.user_permissions.add(Permission.objects.get(codename="lookup_route"))
    client = client_for(switch)
    assert client.get("/api/sbc/route", {"bnumber": "+4570305050", "source": "203.0.113.7"}).json()["reason"] == "unknown_source"
    hansen = CustomerFactory(parent_reseller=operator)
    run(tmp_path, f"{hansen.pk},pbx,203.0.113.0/24\n")
    assert client.get("/api/sbc/route", {"bnumber": "+4570305050", "source": "203.0.113.7"}).json()["customer"] == hansen.pk


def test_route_command_takes_a_source(capsys):
    hansen = CustomerFactory()
    PeerFactory(id="TDC", hosts=["192.0.2.10"], default=True)
    trunk = TrunkFactory(customer=hansen, sources=["203.0.113.7"], max_calls=3)
    call_command("route", "+4570305050", "--source", "203.0.113.7")
    answer = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (answer["customer"], answer["trunk"]) == (hansen.pk, {"_id": trunk.pk, "maxCalls": 3, "callsPerSecond": None})
    call_command("route", "+4570305050", "--source", "203.0.113.8")
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[0])["reason"] == "unknown_source" and out[1] == "  - no active trunk holds 203.0.113.8"
    with pytest.raises(CommandError, match="source: Source is invalid"):
        call_command("route", "+4570305050", "--source", "nowhere")
