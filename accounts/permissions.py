"""Who may do what (docs/api.md §3), written once: DRF permission classes and the customer-scope helper."""

from __future__ import annotations

from django.db.models import Q
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.models import AccessLevel, Customer, Employee
from telecomx.errors import ApiError
from telecomx.ids import normalize_id

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


def descendant_reseller_ids(root_id: str) -> set[str]:
    """`root_id` and every reseller below it, in one query however deep the tree."""
    children: dict[str | None, list[str]] = {}
    for pk, parent in Customer.objects.filter(is_reseller=True).values_list("id", "parent_reseller_id"):
        children.setdefault(parent, []).append(pk)
    found, todo = {root_id}, [root_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def reachable_customers(employee: Employee) -> Q | None:
    """The customers `employee` may reach as a filter on Customer; None means all of them."""
    if employee.access_level == AccessLevel.ADMIN:
        return None
    if employee.access_level in RESELLER_LEVELS:
        resellers = descendant_reseller_ids(employee.customer_id)
        return Q(pk=employee.customer_id) | Q(parent_reseller_id__in=resellers)
    return Q(pk=employee.customer_id)


def customer_for(employee: Employee, customer_id: str) -> Customer:
    """The customer behind a URL, for a call notify action; 404 `customer` or 403 as docs/api.md §3 says.

    A customer that does not exist, is deleted, or is out of the caller's reach is "not found",
    so ids cannot be probed. PERSONAL may see its own customer but may not act on it: 403.
    """
    pk = normalize_id(customer_id)
    scope = reachable_customers(employee)
    customers = Customer.objects.exclude(state=Customer.State.DELETED)
    if scope is not None:
        customers = customers.filter(scope)
    customer = customers.filter(pk=pk).first() if pk else None
    if customer is None:
        raise ApiError(404, "customer", "Customer not found")
    allowed = (
        employee.access_level == AccessLevel.ADMIN
        or employee.access_level in RESELLER_LEVELS
        or employee.access_level in OWN_CUSTOMER_LEVELS
    )
    if not allowed:
        raise ApiError(403, "access_denied", "Insufficient access level")
    return customer
