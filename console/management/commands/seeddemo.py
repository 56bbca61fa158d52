"""seeddemo: a small believable data set, and how to log in. Running it twice duplicates nothing.

The customers and employees are made here; each app's demo.py then adds its own rows (`seed`).
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from django.apps import apps
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import AccessLevel, Customer, Employee
from console.demo_receiver import receiver_ports

DEMO_PASSWORD = os.environ.get("TELECOMX_DEMO_PASSWORD", "demo-telecomx-2026")

# (name, parent name, is reseller, features)
CUSTOMERS = [
    ("Telecom X Operator", None, True, ["FINANCE", "TELE", "SIP", "MVNO"]),
    ("Nordic Reseller ApS", "Telecom X Operator", True, ["FINANCE", "TELE"]),
    ("Hansen VVS A/S", "Nordic Reseller ApS", False, ["SIP", "MVNO"]),
    ("Jensen Advokater", "Nordic Reseller ApS", False, ["SIP"]),
]
# (e-mail, name, customer name, access level, Django permissions of a service account)
EMPLOYEES = [
    ("admin@telecomx.example", "Operator Admin", "Telecom X Operator", AccessLevel.ADMIN, []),
    ("switch@telecomx.example", "SBC switch (service account)", "Telecom X Operator", AccessLevel.VIEWER,
     ["callnotify.add_callevent", "sbcrules.lookup_route"]),
    ("reseller@nordic.example", "Nina Nordic", "Nordic Reseller ApS", AccessLevel.RESELLER_ADMIN, []),
    ("owner@hansen.example", "Hans Hansen", "Hansen VVS A/S", AccessLevel.OWNER, []),
    ("viewer@hansen.example", "Vera Hansen", "Hansen VVS A/S", AccessLevel.VIEWER, []),
    ("personal@jensen.example", "Jens Jensen", "Jensen Advokater", AccessLevel.PERSONAL, []),
]

def _permission(dotted: str) -> Permission | None:
    app_label, codename = dotted.split(".")
    return Permission.objects.filter(content_type__app_label=app_label, codename=codename).first()


class Command(BaseCommand):
    help = "Create demo customers, employees and call notify items (idempotent) and print how to log in."

    @transaction.atomic
    def handle(self, *args: object, **options: object) -> None:
        customers: dict[str, Customer] = {}
        for name, parent, reseller, features in CUSTOMERS:
            customers[name], _ = Customer.objects.get_or_create(
                name=name,
                defaults={"parent_reseller": customers.get(parent or ""), "is_reseller": reseller, "features": features},
            )
        for email, name, customer, level, perms in EMPLOYEES:
            employee = Employee.objects.filter(email=email).first()
            if employee is None:
                employee = Employee.objects.create_user(
                    email, DEMO_PASSWORD, name=name, customer=customers[customer], access_level=level
                )
            for dotted in perms:
                permission = _permission(dotted)
                if permission is not None:
                    employee.user_permissions.add(permission)
        for config in apps.get_app_configs():
            module = f"{config.name}.demo"
            if config.name.startswith("django") or importlib.util.find_spec(module) is None:
                continue
            importlib.import_module(module).seed(self.stdout)
        self._print_logins(customers)

    def _print_logins(self, customers: dict[str, Customer]) -> None:
        out = self.stdout.write
        base = os.environ.get("TELECOMX_BASE_URL", "http://127.0.0.1:8000")
        out("")
        out("Demo data ready. Log in with any of these (password for all: %s):" % DEMO_PASSWORD)
        for email, _name, customer, level, _perms in EMPLOYEES:
            out(f"  {email:<26} {level:<15} {customer} ({customers[customer].pk})")
        out("")
        out(f"  Admin:    {base}/admin/   (admin@telecomx.example): the dashboard of deliveries and routing")
        out(f"  API docs: {base}/api/docs/")
        out(f"  Token:    curl -s -X POST {base}/api/auth/login -H 'Content-Type: application/json' \\")
        out(f"              -d '{{\"username\": \"owner@hansen.example\", \"password\": \"{DEMO_PASSWORD}\"}}'")
        out(f"  Items:    curl -s {base}/api/customer/{customers['Hansen VVS A/S'].pk}/callnotify \\")
        out("              -H 'Authorization: Bearer <token>'")
        http_port, tcp_port = receiver_ports()
        out(f"  Calls:    .venv/bin/python manage.py simulatecalls --calls 5   (the demo items deliver to the")
        out(f"            demo receiver on 127.0.0.1:{http_port} and :{tcp_port}, which bin/run starts; Jensen's")
        out("            POSTJSON item fails on purpose, so the dashboard shows a failing endpoint)")
