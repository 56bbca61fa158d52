"""`manage.py route BNUMBER [--anumber A] [--customer ID] [--source IP]`: the decision `GET /api/sbc/route` gives, and why."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sbcrules.lookup import route_call
from sbcrules.serializers import route_answer


class Command(BaseCommand):
    help = "Show the routing decision for a call: the same JSON as GET /api/sbc/route, then why."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("bnumber", help="destination, E.164 (+4570305050)")
        parser.add_argument("--anumber", default=None, help="caller, E.164")
        parser.add_argument("--customer", default=None, help="calling customer's id")
        parser.add_argument("--source", default=None, help="the address the call came from: its trunk decides the customer")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            decision = route_call(bnumber=options["bnumber"], anumber=options["anumber"], customer=options["customer"],
                                   source=options["source"], explain=True)
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
            raise CommandError(problems) from None
        self.stdout.write(json.dumps(route_answer(decision)))
        for reason in decision.why:
            self.stdout.write(f"  - {reason}")
