"""Send one sample event to a call notify item now, outside the queue, and print the outcome."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from callnotify.delivery import send_test_event
from callnotify.models import CallNotify
from core.ids import normalize_id


class Command(BaseCommand):
    help = "Send a sample RINGING event to one call notify item now and print what happened."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("callnotify_id", help="the call notify item's _id")

    def handle(self, *args: object, callnotify_id: str, **options: object) -> None:
        endpoint = CallNotify.objects.filter(pk=normalize_id(callnotify_id)).first()
        if endpoint is None:
            raise CommandError(f"Call notify not found: {callnotify_id}")
        result = send_test_event(endpoint)
        status = result.status if result.status is not None else "-"
        line = f"{endpoint.method} {endpoint.url}: status {status}, {result.duration_ms} ms"
        if not result.delivered:
            raise CommandError(f"not delivered: {line}: {result.error}")
        self.stdout.write(self.style.SUCCESS(f"delivered: {line}"))
