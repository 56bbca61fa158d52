"""Which documented 409 a database refusal means: the constraints decide races, this names them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError

from telecomx.errors import ApiError

# constraint name (PostgreSQL) / what SQLite names in its message -> the documented error
KNOWN: list[tuple[tuple[str, ...], Callable[[], ApiError]]] = [
    (("sbcrules_rule_unique", "sbcrules_rule.type, sbcrules_rule.condition"), lambda: ApiError(409, "rule", "Rule already exists")),
    (("sbcrules_peer_id_ci_unique", "sbcrules_peer_pkey", "sbcrules_peer.id"), lambda: ApiError(409, "peer", "Peer already exists", path="_id")),
    (("sbcrules_one_default_peer", "sbcrules_peer.default"), lambda: ApiError(409, "default", "Another peer is the default", path="default")),
    (("sbcrules_dkoperator_pkey", "sbcrules_dkoperator.id"), lambda: ApiError(409, "id", "Operator already exists", path="_id")),
]


def constraint_of(exc: IntegrityError) -> str:
    """The violated constraint's name on PostgreSQL, else the driver's message (SQLite)."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) or str(exc)


def documented_error(exc: IntegrityError) -> ApiError | None:
    text = constraint_of(exc)
    for names, make in KNOWN:
        if any(name in text for name in names):
            return make()  # a fresh exception per request
    return None


@contextmanager
def documented_conflicts(*, in_use: ApiError | None = None) -> Iterator[None]:
    """Run a write atomically; a known constraint becomes its documented error, and a row still
    referenced (PROTECT, or a reference added concurrently: a foreign key error) `in_use`."""
    try:
        with transaction.atomic():
            yield
    except (ProtectedError, RestrictedError):
        if in_use is None:
            raise
        raise in_use from None
    except IntegrityError as exc:
        error = documented_error(exc)
        if error is None and in_use is not None and "foreign key" in str(exc).lower():
            error = in_use
        if error is None:
            raise
        raise error from exc
