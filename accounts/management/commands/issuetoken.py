"""issuetoken EMAIL [--persist]: prints a bearer token (for service accounts and scripts)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import Employee, Token


class Command(BaseCommand):
    help = "Issue a bearer token for an employee and print it (it is stored only as a hash)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--persist", action="store_true", help="lasts until logout instead of 15 minutes from last use")

    def handle(self, *args: object, **options: object) -> None:
        employee = Employee.objects.filter(email=str(options["email"]).strip().lower()).first()
        if employee is None:
            raise CommandError(f"No employee with e-mail {options['email']}")
        if not employee.may_use_api():
            raise CommandError(f"{employee.email} cannot log in (state {employee.state}, level {employee.access_level})")
        _token, raw = Token.objects.issue(employee, persist=bool(options["persist"]))
        self.stdout.write(raw)
