"""Formats of routing data (docs/api.md §6-8), with their documented messages. Used by the models,
the API, the import commands and the look-up, so all of them accept and refuse the same input.

Formats only: whether a named row exists is the models' question (Rule.check_condition)."""

from __future__ import annotations

import ipaddress
import re

from core.ids import normalize_id

PEER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}\Z")
OPERATOR_CODE_RE = re.compile(r"^[0-9]{5}\Z")
PREFIX_RE = re.compile(r"^\+[0-9]{1,15}\Z")
ANUMBER_RE = re.compile(r"^\+[0-9]{8,15}\Z")
# A number in a look-up: E.164 (`+` and up to 15 digits).
NUMBER_RE = re.compile(r"^\+[0-9]{1,15}\Z")
# A Danish number in the portability data, after normalize_dk_number.
DK_NUMBER_RE = re.compile(r"^\+45[0-9]{8}\Z")
DK_PREFIX_RE = re.compile(r"^\+45[0-9]{0,8}\Z")


def is_peer_id(value: object) -> bool:
    return isinstance(value, str) and PEER_ID_RE.match(value) is not None


def is_operator_code(value: object) -> bool:
    return isinstance(value, str) and OPERATOR_CODE_RE.match(value) is not None


CONDITION_INVALID = "Condition is invalid"
PREFIX_INVALID = "Prefix is invalid"


def condition_format_error(rule_type: str | None, condition: object) -> str | None:
    """The documented message when `condition` cannot be a condition of `rule_type`.

    `rule_type` None (missing or invalid type): only "is there a string" can be judged.
    """
    if not isinstance(condition, str) or not condition:
        return CONDITION_INVALID
    if rule_type == "PREFIX":
        return None if PREFIX_RE.match(condition) else PREFIX_INVALID
    if rule_type == "ANUMBER":
        return None if ANUMBER_RE.match(condition) else CONDITION_INVALID
    if rule_type == "CUSTOMER":
        return None if normalize_id(condition) else CONDITION_INVALID
    if rule_type == "DKCPS":
        return None if is_operator_code(condition) else CONDITION_INVALID
    return None


def normalize_condition(rule_type: str, condition: str) -> str:
    """The stored spelling: customer ids in lower case (ids are matched case-insensitively)."""
    if rule_type == "CUSTOMER":
        return normalize_id(condition) or condition
    return condition


def normalize_dk_number(value: str) -> str | None:
    """`+4570305050`, `4570305050` or `70305050` → `+4570305050`; None when not a DK number."""
    value = value.strip()
    if len(value) == 8 and value.isdigit():
        value = "+45" + value
    elif len(value) == 10 and value.isdigit() and value.startswith("45"):
        value = "+" + value
    return value if DK_NUMBER_RE.match(value) else None


def normalize_dk_prefix(value: str) -> str | None:
    """A number-range prefix: `+4570` or national digits `70` (1..8 digits) → `+4570`.

    Without the `+`, digits are always national: `45` is the Danish 45xx block, not the country.
    """
    value = value.strip()
    if value.isdigit() and 1 <= len(value) <= 8:
        value = "+45" + value
    return value if DK_PREFIX_RE.match(value) and len(value) > 3 else None


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


def peer_host(value: object) -> str | None:
    """A peer host's address in its normal spelling, or None when it is not one a call can be sent
    to: not an IP address, or unspecified (0.0.0.0, ::), the broadcast address, or multicast
    (224.0.0.0/4, ff00::/8), also as IPv4-mapped IPv6."""
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    for form in (address, getattr(address, "ipv4_mapped", None)):
        if form is not None and (form.is_unspecified or form.is_multicast or form == _BROADCAST):
            return None
    return str(address)


def validate_peer_host(value: object) -> None:
    """The model's check (the admin): the same rule as the API's and importhosts'."""
    from django.core.exceptions import ValidationError

    if peer_host(value) is None:
        raise ValidationError("Host is invalid", code="invalid")
