"""createcustomer NAME [--parent ID] [--reseller | --operator] [--features FINANCE,TELE] [--state ACTIVE]: prints the new id."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError

from accounts.models import OPERATOR_SHAPE, Customer
from core.ids import normalize_id


class Command(BaseCommand):
    help = "Create a customer (or a reseller) and print its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--parent", help="id of the parent reseller")
        parser.add_argument("--reseller", action="store_true", help="the customer can own customers")
        parser.add_argument("--operator", action="store_true",
                            help="the operator itself (a reseller without a parent; refused when there is one)")
        parser.add_argument("--features", default="", help="comma-separated, e.g. FINANCE,TELE")
        parser.add_argument("--state", default=Customer.State.ACTIVE, choices=Customer.State.values)

    def handle(self, *args: object, **options: object) -> None:
        if options["operator"]:
            if options["parent"]:
                raise CommandError(OPERATOR_SHAPE)
            existing = Customer.objects.filter(is_operator=True).values_list("pk", flat=True).first()
            if existing:
                raise CommandError(f"An operator exists already: {existing}")
        parent = None
        if options["parent"]:
            parent = Customer.objects.filter(pk=normalize_id(options["parent"])).first()
            if parent is None:
                raise CommandError(f"No customer with id {options['parent']}")
        customer = Customer(
            name=options["name"],
            parent_reseller=parent,
            is_reseller=bool(options["reseller"] or options["operator"]),
            is_operator=bool(options["operator"]),
            features=[f.strip().upper() for f in str(options["features"]).split(",") if f.strip()],
            state=options["state"],
        )
        try:
            customer.full_clean()
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from None
        try:
            customer.save()
        except IntegrityError:  # another operator was made meanwhile (the database holds one at most)
            raise CommandError("An operator exists already") from None
        self.stdout.write(customer.pk)
