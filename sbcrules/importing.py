"""Streaming, all-or-nothing CSV imports for rules, operators and number portability data.

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

from django.db import models, transaction

from accounts.models import Customer
import ipaddress

from sbcrules.models import DkOperator, Host, NumberRange, Peer, PortedNumber, Rule, mark_routing_changed
from sbcrules.validators import condition_format_error, is_operator_code, is_peer_id, normalize_condition, normalize_dk_number, normalize_dk_prefix

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


def rule_importer() -> Importer:
    peers = {pk.lower(): pk for pk in Peer.objects.values_list("id", flat=True)}
    operators = set(DkOperator.objects.values_list("id", flat=True))
    customers: dict[str, bool] = {}
    seen: set[tuple[str, str]] = set()

    def parse(row: list[str]) -> Parsed:
        rule_type, condition, peer, note = (cell.strip() for cell in row)
        errors: list[str] = []
        if rule_type not in Rule.Type.values:
            errors.append("type: Type is invalid")
        message = condition_format_error(rule_type if rule_type in Rule.Type.values else None, condition)
        if message is None and rule_type == "CUSTOMER":
            condition = normalize_condition(rule_type, condition)
            if condition not in customers:
                customers[condition] = Customer.objects.exclude(state=Customer.State.DELETED).filter(pk=condition).exists()
            message = None if customers[condition] else "Customer not found"
        elif message is None and rule_type == "DKCPS" and condition not in operators:
            message = "CPS not found"
        if message:
            errors.append(f"condition: {message}")
        if not is_peer_id(peer):
            errors.append("peer: Peer is invalid")
        elif peer.lower() not in peers:
            errors.append("peer: Peer not found")
        if len(note) > 1000:
            errors.append("note: Note is invalid")
        if not errors and (rule_type, condition) in seen:
            errors.append("rule: Rule already exists (an earlier line has the same type and condition)")
        if errors:
            return errors
        seen.add((rule_type, condition))
        return (rule_type, condition), Rule(type=rule_type, condition=condition, peer_id=peers[peer.lower()], note=note)

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
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            errors.append("host: Host is invalid")
        if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
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
        errors = []
        if not is_operator_code(code):
            errors.append("code: 5-digit operator code")
        if not name or len(name) > 200:
            errors.append("name: Name is invalid")
        if len(address) > 500:
            errors.append("address: Address is invalid")
        return errors or (code, DkOperator(id=code, name=name, address=address))

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
