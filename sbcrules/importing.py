"""Streaming, all-or-nothing CSV imports for rules, hosts, trunks, operators and number portability data.

A file is read once, row by row, inside one transaction: good rows are written in batches
(an upsert: a re-import replaces what it covers), every bad row is reported at once with its
line number and the documented message, and one bad row anywhere rolls the whole file back.
Memory is one batch plus, for rules only, the keys seen (rules are held in memory anyway).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models, transaction


from core.messages import message_of
from accounts.models import Customer
from core.ids import normalize_id
from sbcrules.index import mark_routing_changed
from sbcrules.models import CachedReferences, DkOperator, Host, NumberRange, Peer, PortedNumber, Rule, Trunk
from sbcrules.trunks import SOURCE_TAKEN, bounds, normalize_sources, parse_source, save_trunk, taken_by_others
from sbcrules.validators import is_peer_id, normalize_dk_number, normalize_dk_prefix, peer_host

# A row's parser answers (key, object) or the list of its documented messages.
Parsed = tuple[Any, models.Model] | list[str]


@dataclass
class ImportResult:
    lines: int = 0
    stored: int = 0
    bad_lines: int = 0
    messages: list[str] = field(default_factory=list)


@dataclass
class Importer:
    model: type[models.Model]
    columns: tuple[str, ...]  # the header; the last `optional` columns may be left out
    parse: Callable[[list[str]], Parsed]
    unique_fields: list[str]
    update_fields: list[str]
    optional: int = 0
    header_required: bool = False
    routing: bool = False  # rows feed the routing index: mark it changed

    def run(
        self, lines: Iterable[str], *, batch_size: int = 5000, replace: bool = False,
        report: Callable[[str], None] = print, progress: Callable[[ImportResult], None] | None = None,
    ) -> ImportResult:
        result = ImportResult()
        with transaction.atomic():
            if replace:
                self.model.objects.all().delete()
            batch: dict[Any, models.Model] = {}
            for number, row in enumerate(csv.reader(lines), start=1):
                if number == 1 and self._is_header(row, result, report):
                    continue
                if not row or row == [""]:
                    continue
                result.lines += 1
                parsed = self._parse_row(row)
                if isinstance(parsed, list):
                    result.bad_lines += 1
                    message = f"line {number}: {'; '.join(parsed)}"
                    report(message)
                    if len(result.messages) < 1000:
                        result.messages.append(message)
                    continue
                if result.bad_lines:
                    continue  # nothing will be stored: only look for more bad lines
                key, obj = parsed
                batch[key] = obj  # a later line for the same key wins (upserts can't touch a row twice)
                if len(batch) >= batch_size:
                    self._write(batch, result, progress)
            if result.bad_lines:
                transaction.set_rollback(True)
                result.stored = 0
                return result
            self._write(batch, result, progress)
            if self.routing:
                mark_routing_changed()
        return result

    def _is_header(self, row: list[str], result: ImportResult, report: Callable[[str], None]) -> bool:
        """Whether line 1 is to be skipped: it is the header, or it should have been (reported)."""
        if row and [c.strip().lower() for c in row[: len(self.columns)]] == list(self.columns[: len(row)]):
            return True
        if self.header_required:
            result.bad_lines += 1
            message = f"line 1: the header must be {','.join(self.columns)}"
            report(message)
            result.messages.append(message)
            return True
        return False

    def _parse_row(self, row: list[str]) -> Parsed:
        if not len(self.columns) - self.optional <= len(row) <= len(self.columns):
            return [f"expected {len(self.columns) - self.optional} to {len(self.columns)} columns: {','.join(self.columns)}"]
        return self.parse(row + [""] * (len(self.columns) - len(row)))

    def _write(self, batch: dict[Any, models.Model], result: ImportResult, progress: Callable[[ImportResult], None] | None) -> None:
        if not batch:
            return
        self.model.objects.bulk_create(
            list(batch.values()), update_conflicts=True, unique_fields=self.unique_fields, update_fields=self.update_fields,
        )
        result.stored += len(batch)
        batch.clear()
        if progress:
            progress(result)


def field_errors(obj: models.Model, columns: dict[str, str], *, exclude: Iterable[str] = ()) -> list[str]:
    """The model's own field checks (Model.clean_fields, no queries for these models) as
    `column: message` lines in column order; `columns` maps model field → CSV column."""
    try:
        obj.clean_fields(exclude=[f.name for f in obj._meta.fields if f.name not in columns or f.name in exclude])
    except ValidationError as exc:
        found = exc.message_dict
        return [f"{column}: {message}" for name, column in columns.items() for message in dict.fromkeys(found.get(name, []))]
    return []


def rule_importer() -> Importer:
    """Rules, checked by the model (Rule.check_condition included) with the customers and
    operators remembered across lines, and the peer named in any case as in the API."""
    peers = {pk.lower(): pk for pk in Peer.objects.values_list("id", flat=True)}
    references = CachedReferences()
    peer_field = Rule._meta.get_field("peer")
    unique = next(c for c in Rule._meta.constraints if c.name == "sbcrules_rule_unique")
    seen: set[tuple[str, str]] = set()

    def parse(row: list[str]) -> Parsed:
        rule_type, condition, peer, note = (unneutralise(cell).strip() for cell in row)
        rule = Rule(type=rule_type, condition=condition, peer_id=peers.get(peer.lower()), note=note)
        rule.references = references
        errors = field_errors(rule, {"type": "type", "condition": "condition", "peer": "peer", "note": "note"}, exclude=["peer"])
        if not is_peer_id(peer):
            errors.append(f"peer: {message_of(peer_field)}")
        elif rule.peer_id is None:
            errors.append(f"peer: {peer_field.error_messages['invalid']}")
        key = (rule.type, rule.condition)  # clean_fields stored the condition's normal spelling
        if not errors and key in seen:
            errors.append(f"rule: {unique.violation_error_message} (an earlier line has the same type and condition)")
        if errors:
            return sorted(errors, key=lambda line: ("type", "condition", "peer", "note", "rule").index(line.split(":")[0]))
        seen.add(key)
        return key, rule

    return Importer(
        Rule, ("type", "condition", "peer", "note"), parse, unique_fields=["type", "condition"],
        update_fields=["peer", "note", "updated_at"], optional=1, header_required=True, routing=True,
    )


def host_importer() -> Importer:
    """Peers' hosts: `peer,host[,port[,transport[,state]]]`; the peer must exist; a host already
    listed for the peer is updated (port 5060, udp and up when left empty)."""
    peers = {pk.lower(): pk for pk in Peer.objects.values_list("id", flat=True)}
    transports = set(Host.Transport.values)

    def parse(row: list[str]) -> Parsed:
        peer, address, port, transport, state = (cell.strip() for cell in row)
        errors = []
        if not is_peer_id(peer):
            errors.append("peer: Peer is invalid")
        elif peer.lower() not in peers:
            errors.append("peer: Peer not found")
        address = peer_host(address) or ""
        if not address:
            errors.append("host: Host is invalid")
        if port and not (port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535):
            errors.append("port: Port is invalid")
        if transport and transport not in transports:
            errors.append("transport: Transport is invalid")
        if state not in ("", "up", "down"):
            errors.append("state: Host state is invalid")
        if errors:
            return errors
        key = peers[peer.lower()]
        host = Host(peer_id=key, address=address, port=int(port or 5060), transport=transport or "udp", down=state == "down")
        return (key, address), host

    return Importer(
        Host, ("peer", "host", "port", "transport", "state"), parse, unique_fields=["peer", "address"],
        update_fields=["port", "transport", "down"], optional=3, routing=True,
    )


def operator_importer() -> Importer:
    def parse(row: list[str]) -> Parsed:
        code, name, address = (cell.strip() for cell in row)
        operator = DkOperator(id=code, name=name, address=address)
        return field_errors(operator, {"id": "code", "name": "name", "address": "address"}) or (code, operator)

    return Importer(DkOperator, ("code", "name", "address"), parse, unique_fields=["id"], update_fields=["name", "address"], optional=1)


def number_importer(*, ranges: bool) -> Importer:
    operators = set(DkOperator.objects.values_list("id", flat=True))
    model: type[models.Model] = NumberRange if ranges else PortedNumber
    key_field = "prefix" if ranges else "number"
    normalize = normalize_dk_prefix if ranges else normalize_dk_number
    invalid = "prefix: Prefix is invalid" if ranges else "number: Number is invalid"

    def parse(row: list[str]) -> Parsed:
        raw, operator = (cell.strip() for cell in row)
        key = normalize(raw)
        errors = []
        if key is None:
            errors.append(invalid)
        if operator not in operators:
            errors.append("operator: Operator is not valid")
        return errors or (key, model(**{key_field: key, "operator_id": operator}))

    return Importer(model, (key_field, "operator"), parse, unique_fields=[key_field], update_fields=["operator"])


def open_text(path: str) -> io.TextIOWrapper:
    """A CSV file as text: UTF-8 (with or without a byte-order mark), any newline convention."""
    return open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 - the caller closes it


# Cells a spreadsheet would run as a formula (OWASP, "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """OWASP's rule for CSV opened in a spreadsheet: a cell starting with = + - @ tab or CR gets a
    leading `'`, so it is shown as text, never run. A cell that already starts with `'` before
    such a character gets one more, so `unneutralise` gives every cell back exactly."""
    return "'" + cell if cell.lstrip("'").startswith(FORMULA_START) else cell


def unneutralise(cell: str) -> str:
    """What `neutralise` wrote, read back: one leading `'` before such a cell is dropped."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_START) else cell


def export_rules(out: Any) -> int:
    """Every rule as CSV `type,condition,peer,note` (what rule_importer reads) to a text stream,
    formula-like cells neutralised (`neutralise`); answers how many."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["type", "condition", "peer", "note"])
    count = 0
    for row in Rule.objects.order_by("type", "condition").values_list("type", "condition", "peer_id", "note").iterator(chunk_size=10_000):
        writer.writerow([neutralise(cell or "") for cell in row])
        count += 1
    return count


@dataclass
class RulePreview:
    """What importing a rules file would do, worked out by importing it in a transaction rolled back."""

    result: ImportResult
    added: list[tuple[str, str, str, str]] = field(default_factory=list)  # type, condition, peer, note
    changed: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)  # type, condition, old/new peer, old/new note
    unchanged: int = 0


def preview_rules(text: str) -> RulePreview:
    def snapshot() -> dict[tuple[str, str], tuple[str, str]]:
        return {(t, c): (p, n) for t, c, p, n in Rule.objects.values_list("type", "condition", "peer_id", "note")}

    before = snapshot()
    with transaction.atomic():
        result = rule_importer().run(io.StringIO(text, newline=""), report=lambda message: None)
        after = snapshot() if not result.bad_lines else before
        transaction.set_rollback(True)
    preview = RulePreview(result)
    for key, (peer, note) in sorted(after.items()):
        old = before.get(key)
        if old is None:
            preview.added.append((*key, peer, note))
        elif old != (peer, note):
            preview.changed.append((*key, old[0], peer, old[1], note))
    preview.unchanged = result.lines - len(preview.added) - len(preview.changed) if not result.bad_lines else 0
    return preview


def trunk_importer() -> TrunkImporter:
    return TrunkImporter()


class TrunkImporter:
    """Trunks: `customer,name,sources,maxCalls,callsPerSecond,trustCustomerHeader,state` (header
    optional; sources separated by spaces; the last four may be empty or left out: no limits,
    untrusted, ACTIVE). A line naming a customer's existing trunk (by name) updates it.

    All or nothing, and under the trunks' lock for the whole file (sbcrules.trunks): every line
    is parsed and checked by the model, then every source against the other lines and against
    the stored trunks the file does not rewrite; one bad line (each is reported with its number)
    stores nothing. Only then is anything written, in the same transaction."""

    columns = ("customer", "name", "sources", "maxcalls", "callspersecond", "trustcustomerheader", "state")

    def run(
        self, lines: Iterable[str], *, batch_size: int = 5000, replace: bool = False,
        report: Callable[[str], None] = print, progress: Callable[[ImportResult], None] | None = None,
    ) -> ImportResult:
        result = ImportResult()

        def bad(number: int, messages: list[str]) -> None:
            result.bad_lines += 1
            message = f"line {number}: {'; '.join(messages)}"
            report(message)
            if len(result.messages) < 1000:
                result.messages.append(message)

        with transaction.atomic():
            mark_routing_changed()  # first: every other trunk write waits until this file is in
            if replace:
                Trunk.objects.all().delete()
            customers = set(Customer.objects.exclude(state=Customer.State.DELETED).values_list("id", flat=True))
            existing: dict[tuple[str, str], list[Trunk]] = {}
            for trunk in Trunk.objects.order_by("id"):
                existing.setdefault((trunk.customer_id, trunk.name), []).append(trunk)
            parsed: list[tuple[int, Trunk]] = []
            seen: dict[tuple[str | None, str], int] = {}
            for number, row in enumerate(csv.reader(lines), start=1):
                if number == 1 and row and [c.strip().lower() for c in row[: len(self.columns)]] == list(self.columns[: len(row)]):
                    continue
                if not row or row == [""]:
                    continue
                result.lines += 1
                if not 3 <= len(row) <= len(self.columns):
                    bad(number, ["expected 3 to 7 columns: customer,name,sources,maxCalls,callsPerSecond,trustCustomerHeader,state"])
                    continue
                cells = [cell.strip() for cell in row] + [""] * (len(self.columns) - len(row))
                trunk, errors = self._parse(cells, customers, existing)
                key = (trunk.customer_id, trunk.name)
                if not errors and key in seen:
                    errors.append(f"name: the customer's trunk of this name is on line {seen[key]} already")
                if errors:
                    bad(number, errors)
                    continue
                seen[key] = number
                parsed.append((number, trunk))
            if not result.bad_lines:
                self._check_sources(parsed, bad)
            if result.bad_lines:
                transaction.set_rollback(True)
                return result
            for _, trunk in parsed:
                save_trunk(trunk, checked=True)
                result.stored += 1
                if progress and result.stored % batch_size == 0:
                    progress(result)
            if progress:
                progress(result)
        return result

    @staticmethod
    def _parse(cells: list[str], customers: set[str], existing: dict[tuple[str, str], list[Trunk]]) -> tuple[Trunk, list[str]]:
        customer, name, sources, max_calls, per_second, trusted, state = cells
        errors: list[str] = []
        pk = normalize_id(customer)
        if pk is None or pk not in customers:
            errors.append("customer: Customer not found")
        stored = existing.get((pk, name), []) if pk else []
        if len(stored) > 1:
            errors.append("name: the customer has several trunks of this name; rename them first")
        trunk = stored[0] if stored else Trunk(customer_id=pk)
        trunk.name, trunk.sources, trunk.state = name, normalize_sources(sources.split()), state or Trunk.State.ACTIVE
        trunk.trust_customer_header = trusted.lower() == "true"
        if trusted.lower() not in ("", "true", "false"):
            errors.append(f"trustCustomerHeader: {message_of(Trunk._meta.get_field('trust_customer_header'))}")
        for attribute, column, raw in (("max_calls", "maxCalls", max_calls), ("calls_per_second", "callsPerSecond", per_second)):
            setattr(trunk, attribute, None)
            if raw and raw.isascii() and raw.isdigit() and len(raw) <= 9:
                setattr(trunk, attribute, int(raw))
            elif raw:
                errors.append(f"{column}: {message_of(Trunk._meta.get_field(attribute))}")
        errors += field_errors(trunk, {"name": "name", "sources": "sources", "max_calls": "maxCalls",
                                       "calls_per_second": "callsPerSecond", "state": "state"})
        order = ("customer", "name", "sources", "maxCalls", "callsPerSecond", "trustCustomerHeader", "state")
        return trunk, sorted(dict.fromkeys(errors), key=lambda line: order.index(line.split(":")[0]))

    @staticmethod
    def _check_sources(parsed: list[tuple[int, Trunk]], bad: Callable[[int, list[str]], None]) -> None:
        """No source in two lines; none held by a stored trunk this file does not rewrite."""
        ranges = []  # (family, first, last, line)
        for number, trunk in parsed:
            for source in trunk.sources:
                family, first, last = bounds(parse_source(source))
                ranges.append((family, int(first, 16), int(last, 16), number))
        ranges.sort()
        clashes: dict[int, int] = {}
        reach = None  # the range reaching furthest so far in this family
        for family, first, last, number in ranges:
            if reach is not None and reach[0] == family and first <= reach[2] and reach[3] != number:
                clashes.setdefault(number, reach[3])
            if reach is None or reach[0] != family or last > reach[2]:
                reach = (family, first, last, number)
        for number, other in sorted(clashes.items()):
            bad(number, [f"sources: {SOURCE_TAKEN} (line {other})"])
        rewritten = {trunk.pk for _, trunk in parsed}
        for number, trunk in parsed:
            if number not in clashes and taken_by_others(trunk, [parse_source(s) for s in trunk.sources], also_exclude=rewritten):
                bad(number, [f"sources: {SOURCE_TAKEN}"])
