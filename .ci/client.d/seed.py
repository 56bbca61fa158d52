# Users and data for the generated-client scenario; prints their ids and passwords as JSON.
import json

from accounts.models import AccessLevel, Customer, Employee
from sbcrules.models import DkOperator

PASSWORD = "ci-client-password-1"
operator = Customer.objects.create(name="Operator", is_reseller=True, features=["FINANCE", "TELE"])
shop = Customer.objects.create(name="Hansen ApS", parent_reseller=operator)
people = {}
for email, customer, level in [
    ("admin@operator.example", operator, AccessLevel.ADMIN),
    ("owner@hansen.example", shop, AccessLevel.OWNER),
    ("personal@hansen.example", shop, AccessLevel.PERSONAL),
]:
    employee = Employee(email=email, name=email.split("@")[0], customer=customer, access_level=level)
    employee.set_password(PASSWORD)
    employee.save()
    people[level.label if hasattr(level, "label") else str(level)] = email
DkOperator.objects.create(id="01011", name="TDC")
print(json.dumps({"password": PASSWORD, "customer": shop.id, "admin": "admin@operator.example",
                  "owner": "owner@hansen.example", "personal": "personal@hansen.example"}))
