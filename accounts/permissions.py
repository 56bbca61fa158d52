"""Who may do what (docs/api.md §3), written once: the access table (`Access`), the permission classes
it is made of, and the customer scope (`reachable_customers`, `reachable_customer`).

Views name an `Access` entry and decide nothing themselves; tests/test_access_matrix.py checks
every served route against the same table, written from docs/api.md independently. This module
answers questions (True/False, a customer or None); the views turn the answers into HTTP errors.
"""

from __future__ import annotations

from django.db.models import Q
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request

from accounts.models import AccessLevel, ApiKey, Customer, Employee, descendant_reseller_ids
from core.ids import normalize_id

# Levels that reach a customer because it is their own.
OWN_CUSTOMER_LEVELS = {AccessLevel.VIEWER, AccessLevel.MANAGER, AccessLevel.OWNER}
# Levels that reach their own customer and every customer below it in the reseller tree.
RESELLER_LEVELS = {AccessLevel.RESELLER, AccessLevel.RESELLER_ADMIN}


def level(minimum: str) -> type[BasePermission]:
    """Access level `minimum` or higher."""

    class AtLeast(BasePermission):
        def has_permission(self, request: Request, view: object) -> bool:
            return isinstance(request.user, Employee) and request.user.at_least(minimum)

    AtLeast.__name__ = f"AtLeast{minimum.title().replace('_', '')}"
    return AtLeast


def exactly(*levels: str) -> type[BasePermission]:
    class OneOf(BasePermission):
        def has_permission(self, request: Request, view: object) -> bool:
            return isinstance(request.user, Employee) and request.user.access_level in levels

    return OneOf


def feature(name: str) -> type[BasePermission]:
    """The employee's own customer has feature `name`."""

    class HasFeature(BasePermission):
        def has_permission(self, request: Request, view: object) -> bool:
            return isinstance(request.user, Employee) and request.user.customer.has_feature(name)

    HasFeature.__name__ = f"HasFeature{name.title()}"
    return HasFeature


def django_perm(perm: str) -> type[BasePermission]:
    """A Django permission given to the employee (service accounts such as switches)."""

    class HasDjangoPerm(BasePermission):
        def has_permission(self, request: Request, view: object) -> bool:
            return isinstance(request.user, Employee) and request.user.has_perm(perm)

    return HasDjangoPerm


IsAdmin = level(AccessLevel.ADMIN)


def reachable_customers(employee: Employee) -> Q | None:
    """The customers `employee` may reach as a filter on Customer; None means all of them."""
    if employee.access_level == AccessLevel.ADMIN:
        return None
    if employee.access_level in RESELLER_LEVELS:
        resellers = descendant_reseller_ids(employee.customer_id)
        return Q(pk=employee.customer_id) | Q(parent_reseller_id__in=resellers)
    return Q(pk=employee.customer_id)


def reachable_customer(employee: Employee, customer_id: str) -> Customer | None:
    """The customer behind a URL if `employee` reaches it, else None: one that does not exist, is
    deleted, or is out of reach is not found alike, so ids cannot be probed (docs/api.md §3)."""
    pk = normalize_id(customer_id)
    if pk is None:
        return None
    if pk == employee.customer_id and Employee.customer.is_cached(employee):  # type: ignore[attr-defined]
        # The employee's own customer, read with the credential in this request (and refused
        # there when it or a reseller above is DELETED): no second read.
        own = employee.customer
        return own if own.state != Customer.State.DELETED else None
    scope = reachable_customers(employee)
    customers = Customer.objects.exclude(state=Customer.State.DELETED)
    if scope is not None:
        customers = customers.filter(scope)
    return customers.filter(pk=pk).order_by().first()


# Levels that may act on a customer they reach (PERSONAL may see its own customer, not act on it).
ACTING_LEVELS = {AccessLevel.ADMIN, *RESELLER_LEVELS, *OWN_CUSTOMER_LEVELS}


def acting_for_customer(minimum: str | None = None) -> type[BasePermission]:
    """Any employee may ask; on the customer of the URL, once the view found it in reach (its
    check_object_permissions), the employee's level must be one that acts, and `minimum` or above."""

    class ActsForCustomer(BasePermission):
        def has_permission(self, request: Request, view: object) -> bool:
            return isinstance(request.user, Employee)

        def has_object_permission(self, request: Request, view: object, obj: object) -> bool:
            employee = request.user
            return employee.access_level in ACTING_LEVELS and (minimum is None or employee.at_least(minimum))

    return ActsForCustomer


class PeopleOnly(BasePermission):
    """A service account's API key serves what a switch does and nothing else, whatever its
    account's level: every entry that is not a switch's refuses a request made with one."""

    def has_permission(self, request: Request, view: object) -> bool:
        return not isinstance(request.auth, ApiKey)


def people(permission: type[BasePermission]) -> type[BasePermission]:
    return permission & PeopleOnly  # type: ignore[return-value]


def manages_trunks() -> type[BasePermission]:
    """Trunks (docs/api.md §3): any employee may ask; on the customer of the URL, once the view
    found it in reach, ADMIN, or RESELLER_ADMIN with TELE for a customer that belongs to its
    customer (below it: its own customer's trunks are the operator's to set)."""

    class ManagesTrunksOf(BasePermission):
        def has_permission(self, request: Request, view: object) -> bool:
            return isinstance(request.user, Employee)

        def has_object_permission(self, request: Request, view: object, obj: object) -> bool:
            employee = request.user
            if employee.access_level == AccessLevel.ADMIN:
                return True
            customer_id = obj.pk if isinstance(obj, Customer) else getattr(obj, "customer_id", None)
            return (employee.access_level == AccessLevel.RESELLER_ADMIN and employee.customer.has_feature("TELE")
                    and customer_id != employee.customer_id)

    return ManagesTrunksOf


def event_reach(employee: Employee, customers: dict[str, tuple[bool, str | None]]) -> set[str]:
    """Which of `customers` (id -> (is_reseller, parent_reseller_id)) `employee` may report call events for.

    docs/callevents.md §1: ADMIN and the service accounts of the operator (the one customer marked
    `is_operator`) reach every customer; a service account of any other customer reaches that
    customer and, for a reseller, its whole subtree — a reseller without a parent too, which is
    an ordinary reseller unless it is the operator. No query unless the poster is a reseller
    other than the operator.
    """
    if employee.access_level == AccessLevel.ADMIN:
        return set(customers)
    own = employee.customer
    if own.is_operator:
        return set(customers)
    if not own.is_reseller:
        return {own.pk} & set(customers)
    resellers = descendant_reseller_ids(own.pk)
    return {pk for pk, (_, parent) in customers.items() if pk == own.pk or parent in resellers}



def route_reach(employee: Employee, customer: str | None) -> bool:
    """May a route look-up by `employee` take `customer`'s CUSTOMER rules into account? The same
    reach as for call events; a customer out of reach is routed as an unknown id is (no CUSTOMER
    rule applies), so the answer tells nothing about other resellers' customers. No query for
    ADMIN, the operator's own accounts, or an id that is malformed or absent."""
    if route_reach_without_query(employee, customer):
        return True
    pk = normalize_id(customer)
    row = Customer.objects.filter(pk=pk).values_list("is_reseller", "parent_reseller_id").first()
    return row is not None and pk in event_reach(employee, {pk: row})


def route_reach_without_query(employee: Employee, customer: str | None) -> bool:
    """True when route_reach is True without asking the database: no id or a malformed one, ADMIN,
    the operator's own accounts, or the caller's own customer."""
    pk = normalize_id(customer) if customer else None
    return pk is None or event_reach(employee, {pk: (False, None)}) == {pk}


# --- SBC rules (docs/api.md §3, "SBC rules: what a reseller may route") ---
# A RESELLER_ADMIN with FINANCE writes every rule type, as the published rule pages say. It sees
# every rule but the CUSTOMER rules of customers it cannot reach (those are not found), and a
# CUSTOMER rule it writes must name a customer it reaches (else "Customer not found").


def _reachable_customer_ids(employee: Employee):  # type: ignore[no-untyped-def]
    customers = Customer.objects.exclude(state=Customer.State.DELETED)
    scope = reachable_customers(employee)
    return (customers.filter(scope) if scope is not None else customers).values("id")


def rule_scope(employee: Employee) -> Q | None:
    """The SBC rules `employee` may see, as a filter on Rule; None means all of them."""
    if employee.access_level == AccessLevel.ADMIN:
        return None
    return ~Q(type="CUSTOMER") | Q(type="CUSTOMER", condition__in=_reachable_customer_ids(employee))


def rule_scope_fingerprint(employee: Employee) -> str:
    """What rule_scope depends on besides the rules: "" for ADMIN (every rule), else the customers
    the employee reaches, in one query (a customer added, moved or deleted changes it)."""
    if employee.access_level == AccessLevel.ADMIN:
        return ""
    ids = sorted(row["id"] for row in _reachable_customer_ids(employee))
    return ",".join(ids)


def may_route_customer(employee: Employee, customer_id: object) -> bool:
    """A CUSTOMER rule may name this customer: one the caller reaches (else "Customer not found")."""
    if employee.access_level == AccessLevel.ADMIN:
        return True  # the model has checked that it exists and is not DELETED
    pk = normalize_id(customer_id) if isinstance(customer_id, str) else None
    return pk is not None and _reachable_customer_ids(employee).filter(pk=pk).exists()


class Access:
    """docs/api.md §3, row by row: an action and the permission that decides who may do it.
    Entries for people refuse API keys (`people`); the switches' two take them."""

    # call notify: everything under /api/customer/<ID>/callnotify. Any employee may ask; the
    # URL's customer then decides (in reach: reachable_customer, else 404; and not PERSONAL).
    CALL_NOTIFY = people(acting_for_customer())
    # retrying a delivery and recovering an endpoint's failures: also MANAGER or above (after reach)
    CALL_NOTIFY_REPLAY = people(acting_for_customer(AccessLevel.MANAGER))
    # SBC rules
    SBC_RULE_READ = people(level(AccessLevel.RESELLER_ADMIN))
    # every rule type (the published rule pages); which rules a reseller sees and names: rule_scope, may_route_customer
    SBC_RULE_WRITE = people((exactly(AccessLevel.RESELLER_ADMIN) & feature("FINANCE")) | IsAdmin)
    # SBC peers and their hosts; the route look-up (a switch's, so its key is taken)
    SBC_PEER_READ = people((exactly(AccessLevel.RESELLER_ADMIN) & feature("TELE")) | IsAdmin)
    SBC_PEER_WRITE = people(IsAdmin)
    ROUTE_LOOKUP = SBC_PEER_READ | django_perm("sbcrules.lookup_route")
    # trunks of a customer: everything under /api/customer/<ID>/trunk. Any employee may ask; the
    # URL's customer then decides (in reach: reachable_customer, else 404; then manages_trunks)
    TRUNK = people(manages_trunks())
    # DK operators and number portability data
    DK_READ = people(level(AccessLevel.VIEWER))
    DK_WRITE = people(IsAdmin)
    # call events (a switch's, so its key is taken), and the operators' metrics
    CALL_EVENT_POST = django_perm("callnotify.add_callevent") | people(IsAdmin)
    METRICS = people(IsAdmin)
    # service accounts' API keys: create, list, revoke
    API_KEYS = people(IsAdmin)
    # ending one's own sessions
    LOGOUT = people(IsAuthenticated)
