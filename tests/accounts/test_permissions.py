"""The customer-scope helper walks the reseller tree in a bounded number of queries."""

from __future__ import annotations

import pytest

from accounts.models import AccessLevel, Customer
from accounts.permissions import reachable_customers
from tests.accounts.factories import CustomerFactory, EmployeeFactory

pytestmark = pytest.mark.django_db


def chain(depth: int, root: Customer) -> list[Customer]:
    resellers = [root]
    for _ in range(depth):
        resellers.append(CustomerFactory(reseller=True, parent_reseller=resellers[-1]))
    return resellers


@pytest.mark.parametrize("depth", [1, 6])
def test_reseller_reaches_every_level_below_in_two_queries(depth, django_assert_num_queries):
    root = CustomerFactory(reseller=True)
    resellers = chain(depth, root)
    leaves = [CustomerFactory(parent_reseller=r) for r in resellers]
    unrelated = CustomerFactory(parent_reseller=CustomerFactory(reseller=True))
    employee = EmployeeFactory(customer=root, access_level=AccessLevel.RESELLER)
    with django_assert_num_queries(2):
        reached = set(Customer.objects.filter(reachable_customers(employee)).values_list("pk", flat=True))
    assert reached == {c.pk for c in resellers + leaves}
    assert unrelated.pk not in reached


def test_a_reseller_below_does_not_reach_up():
    root = CustomerFactory(reseller=True)
    middle = CustomerFactory(reseller=True, parent_reseller=root)
    sibling = CustomerFactory(parent_reseller=root)
    employee = EmployeeFactory(customer=middle, access_level=AccessLevel.RESELLER_ADMIN)
    reached = set(Customer.objects.filter(reachable_customers(employee)).values_list("pk", flat=True))
    assert reached == {middle.pk}
    assert sibling.pk not in reached


@pytest.mark.parametrize("level", [AccessLevel.VIEWER, AccessLevel.OWNER, AccessLevel.PERSONAL])
def test_customer_levels_reach_only_their_own_customer(level):
    root = CustomerFactory(reseller=True)
    CustomerFactory(parent_reseller=root)
    employee = EmployeeFactory(customer=root, access_level=level)
    assert list(Customer.objects.filter(reachable_customers(employee))) == [root]


def test_admin_reaches_everything():
    assert reachable_customers(EmployeeFactory(access_level=AccessLevel.ADMIN)) is None


def test_reseller_tree_cannot_loop():
    a = CustomerFactory(reseller=True)
    b = CustomerFactory(reseller=True, parent_reseller=a)
    a.parent_reseller = b
    with pytest.raises(Exception, match="own ancestor"):
        a.full_clean()
