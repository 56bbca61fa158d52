"""createemployee EMAIL --customer ID --access-level LEVEL [--password PW] [--name NAME]: prints the new id.

Without --password the password comes from TELECOMX_PASSWORD, else from a prompt when a terminal
is attached; with none of these the employee gets no usable password (token-only service account).
"""

from __future__ import annotations

import getpass
import os
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import AccessLevel, Customer, Employee
from core.ids import normalize_id


class Command(BaseCommand):
    help = "Create an employee (a user) of a customer and print its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--customer", required=True, help="id of the employee's customer")
        parser.add_argument("--access-level", required=True, choices=AccessLevel.values)
        parser.add_argument("--password", help="else TELECOMX_PASSWORD, else a prompt")
        parser.add_argument("--name", default="")

    def _password(self, options: dict) -> str | None:
        if options["password"]:
            return options["password"]
        if os.environ.get("TELECOMX_PASSWORD"):
            return os.environ["TELECOMX_PASSWORD"]
        if sys.stdin.isatty():
            first = getpass.getpass("Password: ")
            if first != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ")
            return first
        return None

    def handle(self, *args: object, **options: object) -> None:
        customer = Customer.objects.filter(pk=normalize_id(options["customer"])).first()
        if customer is None:
            raise CommandError(f"No customer with id {options['customer']}")
        email = str(options["email"]).strip().lower()
        if Employee.objects.filter(email=email).exists():
            raise CommandError(f"An employee with e-mail {email} exists already")
        password = self._password(options)
        employee = Employee(email=email, name=options["name"], customer=customer, access_level=options["access_level"])
        try:
            if password is not None:
                validate_password(password, employee)
            employee.set_password(password)
            employee.full_clean()
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        employee.save()
        self.stdout.write(employee.pk)
