"""Management commands: route, importrules/exportrules, importoperators, importnumbers [--ranges]."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest
from django.core.management import CommandError, call_command

from sbcrules.importing import number_importer
from sbcrules.models import DkOperator, NumberRange, PortedNumber, Rule
from sbcrules.serializers import route_answer
from tests.accounts.factories import CustomerFactory, EmployeeFactory
from tests.sbcrules.factories import DkOperatorFactory, PeerFactory, RuleFactory

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def write(tmp_path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def peers():
    return PeerFactory(id="TDC"), PeerFactory(id="TELENOR")


def test_route_command_prints_the_api_decision_and_why(client_for, peers):
    rule = RuleFactory(type="PREFIX", condition="+4570", peer=peers[0])
    out, _ = run("route", "+4570305050", "--anumber", "+4512345678")
    api = client_for(EmployeeFactory(admin=True)).get("/api/sbc/route", {"bnumber": "+4570305050", "anumber": "+4512345678"}).json()
    first, *why = out.splitlines()
    assert json.loads(first) == api == {
        "peer": "TDC", "rule": {"_id": rule.id, "type": "PREFIX", "condition": "+4570"}, "reason": "prefix", "chain": ["TDC"],
        "targets": [{"peer": "TDC", "host": peers[0].hosts.get().address, "port": 5060, "transport": "udp"}],
    }
    assert any("longest prefix" in line for line in why)


def test_route_command_refuses_a_bad_number():
    with pytest.raises(CommandError, match="bnumber: Number is invalid"):
        run("route", "4570305050")


def test_import_rules_good_file_and_reimport_replaces_what_it_covers(tmp_path, peers):
    customer = CustomerFactory()
    DkOperatorFactory(id="01011")
    RuleFactory(type="PREFIX", condition="+46", peer=peers[0], note="kept")
    old = RuleFactory(type="PREFIX", condition="+45", peer=peers[0], note="old")
    path = write(tmp_path, (
        "type,condition,peer,note\n"
        "PREFIX,+45,telenor,\"Denmark, all\"\n"
        "ANUMBER,+4512345678,TDC,\n"
        f"CUSTOMER,{customer.id.upper()},TDC\n"
        "DKCPS,01011,TELENOR,ported\n"
    ))
    out, err = run("importrules", path)
    assert err == ""
    assert "imported 4 rules" in out
    stored = {(r.type, r.condition): (r.peer_id, r.note) for r in Rule.objects.all()}
    assert stored == {
        ("PREFIX", "+46"): ("TDC", "kept"),
        ("PREFIX", "+45"): ("TELENOR", "Denmark, all"),
        ("ANUMBER", "+4512345678"): ("TDC", ""),
        ("CUSTOMER", customer.id): ("TDC", ""),
        ("DKCPS", "01011"): ("TELENOR", "ported"),
    }
    assert Rule.objects.get(condition="+45").id == old.id  # replaced in place


def test_import_rules_reports_every_bad_line_and_stores_nothing(tmp_path, peers):
    path = write(tmp_path, (
        "type,condition,peer,note\n"
        "PREFIX,+45,TDC,good\n"
        "SUFFIX,+45,TDC,\n"
        "PREFIX,4570,TDC,\n"
        "ANUMBER,+45,TDC,\n"
        f"CUSTOMER,{'0' * 24},TDC,\n"
        "DKCPS,99999,TDC,\n"
        "PREFIX,+47,NOPE,\n"
        "PREFIX,+48,bad peer,\n"
        "PREFIX,+45,TDC,again\n"
        "PREFIX\n"
    ))
    err = io.StringIO()
    with pytest.raises(CommandError, match="9 bad lines; nothing was imported"):
        call_command("importrules", path, stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "line 3: type: Type is invalid",
        "line 4: condition: Prefix is invalid",
        "line 5: condition: Condition is invalid",
        "line 6: condition: Customer not found",
        "line 7: condition: CPS not found",
        "line 8: peer: Peer not found",
        "line 9: peer: Peer is invalid",
        "line 10: rule: Rule already exists (an earlier line has the same type and condition)",
        "line 11: expected 3 to 4 columns: type,condition,peer,note",
    ]
    assert not Rule.objects.exists()


def test_import_rules_needs_the_header(tmp_path, peers):
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 bad lines"):
        call_command("importrules", write(tmp_path, "PREFIX,+45,TDC,\n"), stdout=io.StringIO(), stderr=err)
    assert err.getvalue() == "line 1: the header must be type,condition,peer,note\n"
    assert not Rule.objects.exists()


def test_export_then_import_round_trips(tmp_path, peers):
    RuleFactory(type="PREFIX", condition="+45", peer=peers[0], note='with "quotes", commas')
    RuleFactory(type="ANUMBER", condition="+4512345678", peer=peers[1])
    out, _ = run("exportrules")
    assert out.splitlines()[0] == "type,condition,peer,note"
    path = str(tmp_path / "rules.csv")
    run("exportrules", path)
    before = set(Rule.objects.values_list("type", "condition", "peer_id", "note"))
    Rule.objects.all().delete()
    run("importrules", path)
    assert set(Rule.objects.values_list("type", "condition", "peer_id", "note")) == before


def test_export_neutralises_formulas_and_import_reads_them_back(tmp_path, peers):
    """OWASP's CSV injection rule: cells starting with = + - @ are shown as text by a spreadsheet."""
    notes = ['=HYPERLINK("http://192.0.2.1/x","click")', "-2+3+cmd|' /C calc'!A0", "@SUM(1)", "'=already quoted", "plain"]
    for n, note in enumerate(notes):
        RuleFactory(type="PREFIX", condition=f"+457{n}", peer=peers[0], note=note)
    out, _ = run("exportrules")
    assert out.splitlines()[1:] == [
        f'PREFIX,\'+4570,{peers[0].pk},"\'=HYPERLINK(""http://192.0.2.1/x"",""click"")"',
        f"PREFIX,'+4571,{peers[0].pk},'-2+3+cmd|' /C calc'!A0",
        f"PREFIX,'+4572,{peers[0].pk},'@SUM(1)",
        f"PREFIX,'+4573,{peers[0].pk},''=already quoted",
        f"PREFIX,'+4574,{peers[0].pk},plain",
    ]
    before = set(Rule.objects.values_list("type", "condition", "peer_id", "note"))
    Rule.objects.all().delete()
    run("importrules", write(tmp_path, out))
    assert set(Rule.objects.values_list("type", "condition", "peer_id", "note")) == before


def test_importhosts_answers_a_port_of_5000_digits_with_its_line(tmp_path, peers):
    err = io.StringIO()
    lines = f"{peers[0].pk},192.0.2.7,{'9' * 5000}\n{peers[0].pk},224.0.0.1\n{peers[0].pk},0.0.0.0\n"
    with pytest.raises(CommandError, match="3 bad lines"):
        call_command("importhosts", write(tmp_path, lines), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == ["line 1: port: Port is invalid", "line 2: host: Host is invalid",
                                           "line 3: host: Host is invalid"]


def test_import_operators(tmp_path):
    DkOperatorFactory(id="01011", name="Old")
    out, _ = run("importoperators", write(tmp_path, "code,name,address\n01011,TDC A/S,Teglholmsgade 1\n01020,Telenor\n"))
    assert dict(DkOperator.objects.values_list("id", "name")) == {"01011": "TDC A/S", "01020": "Telenor"}
    err = io.StringIO()
    with pytest.raises(CommandError, match="2 bad lines"):
        call_command("importoperators", write(tmp_path, "1011,X\n01030,\n01040,Fine\n"), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == ["line 1: code: 5-digit operator code", "line 2: name: Name is invalid"]
    assert DkOperator.objects.count() == 2


def test_import_numbers_and_ranges(tmp_path):
    DkOperatorFactory(id="01011")
    DkOperatorFactory(id="01020")
    run("importnumbers", write(tmp_path, "number,operator\n+4570305050,01011\n4570305051,01020\n70305052,01020\n70305052,01011\n"))
    assert dict(PortedNumber.objects.values_list("number", "operator_id")) == {
        "+4570305050": "01011", "+4570305051": "01020", "+4570305052": "01011",
    }
    run("importnumbers", "--ranges", write(tmp_path, "prefix,operator\n+4570,01011\n2,01020\n"))
    assert dict(NumberRange.objects.values_list("prefix", "operator_id")) == {"+4570": "01011", "+452": "01020"}
    err = io.StringIO()
    with pytest.raises(CommandError, match="3 bad lines"):
        call_command("importnumbers", write(tmp_path, "+4570305050,01020\n123,01011\n+4570305053,09999\n+46701234567,01011\n"), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "line 2: number: Number is invalid",
        "line 3: operator: Operator is not valid",
        "line 4: number: Number is invalid",
    ]
    assert PortedNumber.objects.get(number="+4570305050").operator_id == "01011"  # line 1 was rolled back


def test_replace_drops_what_the_file_does_not_have(tmp_path):
    DkOperatorFactory(id="01011")
    run("importnumbers", write(tmp_path, "+4570305050,01011\n+4570305051,01011\n"))
    run("importnumbers", "--replace", write(tmp_path, "+4570305051,01011\n"))
    assert list(PortedNumber.objects.values_list("number", flat=True)) == ["+4570305051"]


def generate(path, count: int) -> str:
    with open(path, "w") as handle:
        handle.write("number,operator\n")
        for i in range(count):
            handle.write(f"+452{i:07d},{'01011' if i % 3 else '01020'}\n")
    return str(path)


def test_a_large_file_loads_in_batches(tmp_path):
    DkOperatorFactory(id="01011")
    DkOperatorFactory(id="01020")
    out, _ = run("importnumbers", "--batch-size", "5000", generate(tmp_path / "big.csv", 30_000))
    assert PortedNumber.objects.count() == 30_000
    assert PortedNumber.objects.get(number="+4520029999").operator_id == "01011"
    progress = [line for line in out.splitlines() if "numbers written" in line]
    assert len(progress) == 6 and ", 5000 numbers written, " in progress[0] and progress[0].endswith(" lines/s")
    # The file's size is known: a bar with the share read, the total, and the rate.
    assert progress[0].startswith("[") and " MB, " in progress[0]
    assert progress[-1].startswith("[" + "#" * 30 + "] 100% ") and ", 30000 numbers written, " in progress[-1]


def test_import_memory_does_not_grow_with_the_file(tmp_path):
    DkOperatorFactory(id="01011")
    DkOperatorFactory(id="01020")
    peaks = []
    for count in (4_000, 16_000):
        PortedNumber.objects.all().delete()
        path = generate(tmp_path / f"n{count}.csv", count)
        tracemalloc.start()
        with open(path, newline="") as lines:
            result = number_importer(ranges=False).run(lines, batch_size=1000, report=lambda m: None)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert result.stored == count
    assert peaks[1] < peaks[0] * 1.5, peaks  # four times the lines, about the same peak


def test_demo_seed_is_idempotent_and_routes():
    from sbcrules import demo

    out = io.StringIO()
    demo.seed(out)
    counts = [Rule.objects.count(), PortedNumber.objects.count(), DkOperator.objects.count()]
    demo.seed(out)
    assert [Rule.objects.count(), PortedNumber.objects.count(), DkOperator.objects.count()] == counts == [4, 2, 3]
    assert "0 demo objects created" in out.getvalue().splitlines()[1]
    decision = json.loads(run("route", "+4570305050")[0].splitlines()[0])
    assert (decision["peer"], decision["reason"], decision["operator"]) == ("TELENOR", "dkcps", "01020")
    decision = json.loads(run("route", "+46701234567")[0].splitlines()[0])
    assert (decision["peer"], decision["chain"]) == ("TDC", ["TELIA", "TDC"])


def test_importhosts_adds_and_updates_hosts_with_port_transport_and_state(tmp_path):
    from sbcrules.index import routing_index
    from sbcrules.lookup import route_call
    from sbcrules.models import Host

    PeerFactory(id="TDC", default=True, hosts=["192.0.2.10"])
    PeerFactory(id="TELENOR", hosts=[])
    path = tmp_path / "hosts.csv"
    path.write_text(
        "peer,host,port,transport,state\n"
        "tdc,192.0.2.10,5080,tcp\n"  # already there: updated
        "TDC,2001:DB8::10,5061,tls,down\n"
        "TELENOR,198.51.100.20\n",
        encoding="utf-8",
    )
    out, _ = run("importhosts", str(path))
    assert "imported 3 hosts" in out
    assert sorted(Host.objects.values_list("peer_id", "address", "port", "transport", "down")) == [
        ("TDC", "192.0.2.10", 5080, "tcp", False), ("TDC", "2001:db8::10", 5061, "tls", True),
        ("TELENOR", "198.51.100.20", 5060, "udp", False),
    ]
    routing_index.expire()
    assert route_answer(route_call(bnumber="+4512345678"))["targets"] == [{"peer": "TDC", "host": "192.0.2.10", "port": 5080, "transport": "tcp"}]


def test_importhosts_is_all_or_nothing_with_every_bad_line_reported(tmp_path):
    from sbcrules.models import Host

    PeerFactory(id="TDC", hosts=[])
    path = tmp_path / "hosts.csv"
    path.write_text("TDC,192.0.2.1,5060\nNOPE,192.0.2.2\nTDC,not-an-ip,0,sctp,sideways\nbad id,192.0.2.3\n", encoding="utf-8")
    err = io.StringIO()
    with pytest.raises(CommandError, match="3 bad lines; nothing was imported"):
        call_command("importhosts", str(path), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "line 2: peer: Peer not found",
        "line 3: host: Host is invalid; port: Port is invalid; transport: Transport is invalid; state: Host state is invalid",
        "line 4: peer: Peer is invalid",
    ]
    assert not Host.objects.exists()
