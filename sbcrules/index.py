"""The routing index of this process: built from the database, swapped atomically when stale.

Freshness across processes: every rule, peer or host change writes a new random stamp into the
one-row RoutingMarker in the same transaction (`mark_routing_changed`, run by the models' save
and delete signals, connected in SbcrulesConfig.ready). A process reads that stamp
(one primary-key query) at most once per ROUTING_CHECK_INTERVAL seconds (default 0.5) and
rebuilds when it differs from the stamp its index was built at. So every process sees a change
within about half a second plus one rebuild, with no restart, no broker, and no per-call rule
query. A change made in this process also expires the check, so it is seen at once here.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from typing import Any

from django.conf import settings
from django.db import connections, router
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from accounts.models import Customer
from core import outage
from sbcrules.models import Host, Peer, RoutingMarker, Rule, Trunk
from sbcrules.routing import PeerData, RoutingIndex, RuleData, TrunkData, compile_index

logger = logging.getLogger("sbcrules.index")


def read_stamp() -> int:
    return RoutingMarker.objects.filter(pk=1).values_list("stamp", flat=True).first() or 0


def load_index() -> RoutingIndex:
    """Read every rule, peer and host (three queries) and compile them."""
    hosts: dict[str, list[bool]] = {}
    targets: dict[str, list[dict[str, object]]] = {}
    rows = Host.objects.order_by("peer_id", "id").values_list("peer_id", "address", "port", "transport", "down")
    for peer_id, address, port, transport, down in rows:
        hosts.setdefault(peer_id, []).append(down)
        if not down:
            targets.setdefault(peer_id, []).append({"peer": peer_id, "host": address, "port": port, "transport": transport})
    peers = [
        PeerData(
            id=pk, up=up, hosts_down=tuple(hosts.get(pk, ())), failover=failover, default=default,
            targets=tuple(targets.get(pk, ())),
        )
        for pk, up, failover, default in Peer.objects.order_by().values_list("id", "up", "failover_peer_id", "default")
    ]
    rules = (
        RuleData(pk, rule_type, condition, peer)
        for pk, rule_type, condition, peer in Rule.objects.order_by().values_list("id", "type", "condition", "peer_id").iterator(chunk_size=10_000)
    )
    return compile_index(rules, peers, load_sources())


def load_sources() -> list[tuple[str, TrunkData]]:
    """Every source of every ACTIVE trunk whose customer is reachable (not DELETED, nor below a
    DELETED reseller), with what the look-up answers about its trunk. Two queries (resellers,
    trunks), and one more per trusted trunk of a reseller other than the operator (the customers
    below it, which its X-Customer may name)."""
    resellers = {pk: (parent, state) for pk, parent, state in Customer.objects.filter(is_reseller=True).values_list(
        "id", "parent_reseller_id", "state")}
    memo: dict[str, bool] = {}

    def cut_off(pk: str | None) -> bool:
        """Reseller `pk` or one above it is DELETED (a loop in the tree counts as cut off)."""
        path: list[str] = []
        verdict = False
        while pk is not None and pk in resellers:
            if pk in memo:
                verdict = memo[pk]
                break
            if pk in path:
                verdict = True
                break
            path.append(pk)
            parent, state = resellers[pk]
            if state == Customer.State.DELETED:
                verdict = True
                break
            pk = parent
        for seen in path:  # all at or below the point that decided
            memo[seen] = verdict
        return verdict

    children: dict[str, list[str]] = {}
    for pk, (parent, state) in resellers.items():
        if state != Customer.State.DELETED and parent is not None:
            children.setdefault(parent, []).append(pk)

    def reach(customer: str, is_reseller: bool, is_operator: bool) -> frozenset[str] | None:
        if is_operator:
            return None
        if not is_reseller:
            return frozenset({customer})
        below, todo = {customer}, [customer]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in below:
                    below.add(child)
                    todo.append(child)
        return frozenset([customer, *Customer.objects.filter(parent_reseller_id__in=below).exclude(
            state=Customer.State.DELETED).values_list("id", flat=True)])

    found = []
    rows = Trunk.objects.filter(state=Trunk.State.ACTIVE).exclude(customer__state=Customer.State.DELETED).values_list(
        "id", "customer_id", "customer__parent_reseller_id", "customer__is_reseller", "customer__is_operator", "sources",
        "max_calls", "calls_per_second", "trust_customer_header",
    ).order_by()
    for pk, customer, parent, is_reseller, is_operator, sources, max_calls, cps, trusted in rows.iterator(chunk_size=10_000):
        if parent is not None and cut_off(parent):
            continue
        trunk = TrunkData(id=pk, customer=customer, max_calls=max_calls, calls_per_second=cps, trust_customer_header=trusted,
                          reach=reach(customer, is_reseller, is_operator) if trusted else frozenset())
        found.extend((source, trunk) for source in sources)
    return found


class IndexHolder:
    """Hands out the current index; at most one thread of the process rebuilds at a time."""

    def __init__(self) -> None:
        self._index: RoutingIndex | None = None
        self._stamp: int | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()
        self.rebuilds = 0  # for /api/metrics: how often this process rebuilt, and when last
        self.built_at: float | None = None
        self.confirmed_at: float | None = None  # time.monotonic() the index last matched the database

    @property
    def checked_at(self) -> float | None:
        """time.monotonic() of this process's last check of its index against the database (None: not yet)."""
        return None if self._index is None or self._checked_at == float("-inf") else self._checked_at

    def expire(self) -> None:
        """This process changed routing data: rebuild on the next look-up, whatever the marker says.

        The marker changes once per transaction, so a look-up made in the middle of one may
        already have seen the new stamp; it must not keep the index built at that moment.
        """
        self._stamp = None
        self._checked_at = float("-inf")

    def reset(self) -> None:
        """Forget the index entirely (tests: each starts from an empty database)."""
        with self._lock:
            self._index, self._stamp, self._checked_at = None, None, float("-inf")
            self.rebuilds, self.built_at, self.confirmed_at = 0, None, None

    def current(self) -> RoutingIndex:
        index = self._index
        now = time.monotonic()
        if index is not None and now - self._checked_at < settings.ROUTING_CHECK_INTERVAL:
            return index
        if index is not None and not self._lock.acquire(blocking=False):
            return index  # another thread is checking or rebuilding: the old index is still good
        if index is None:
            self._lock.acquire()
        try:
            return self._refresh(now)
        except Exception as exc:
            if index is None or not outage.is_database_unreachable(exc):
                raise  # no index to route from yet: the look-up answers 503 unavailable
            # The database is away: route from the index this process has (docs/operations.md,
            # "When a dependency is down"),
            # and check again after the interval.
            self._checked_at = now
            outage.mark_degraded("database")
            return index
        finally:
            self._lock.release()

    def _refresh(self, now: float) -> RoutingIndex:
        # The stamp is read before the rules: a change committed in between makes the next
        # check rebuild again, never leaves this process on old rules with a new stamp.
        stamp = read_stamp()
        self._checked_at = now
        if self._index is None or self._stamp is None or stamp != self._stamp:
            started = time.perf_counter()
            index = load_index()
            self._index, self._stamp = index, stamp  # the swap: readers hold the old one or this
            self.rebuilds += 1
            self.built_at = time.time()
            logger.info("routing index rebuilt: %d rules in %.3fs", index.rule_count, time.perf_counter() - started)
        assert self._index is not None
        self.confirmed_at = now
        return self._index


routing_index = IndexHolder()


def mark_routing_changed() -> None:
    """Tell every serving process (within its check interval) to rebuild its routing index.

    Once per innermost atomic block: deleting 10,000 rules (one block, 10,000 post_delete
    signals) writes the marker once. A block rolled back takes its changes with it, and any
    later change in the enclosing block is in a different block, so it writes the marker again.
    """
    connection = connections[router.db_for_write(RoutingMarker)]
    block = connection.atomic_blocks[-1] if connection.in_atomic_block else None
    if block is None or getattr(connection, "_routing_marked_in", None) is not block:
        values = {"stamp": secrets.randbits(62), "changed_at": timezone.now()}
        if not RoutingMarker.objects.filter(pk=1).update(**values):
            RoutingMarker.objects.update_or_create(pk=1, defaults=values)
        connection._routing_marked_in = block  # type: ignore[attr-defined]
    routing_index.expire()  # this process checks the marker on its next look-up


def _routing_changed(**kwargs: Any) -> None:
    mark_routing_changed()


def connect_signals() -> None:
    """Any saved or deleted rule, peer, host or trunk changes the marker (SbcrulesConfig.ready),
    and so does any customer: whose trunks count, and which customers a trusted trunk's
    customer reaches, follow the customer tree."""
    for model in (Rule, Peer, Host, Trunk, Customer):
        post_save.connect(_routing_changed, sender=model, dispatch_uid=f"routing-marker-save-{model.__name__}")
        post_delete.connect(_routing_changed, sender=model, dispatch_uid=f"routing-marker-delete-{model.__name__}")
