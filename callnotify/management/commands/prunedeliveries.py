"""Remove finished deliveries (and events left without any) older than the retention period."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet
from django.utils import timezone

from callnotify import endpoint_health

from callnotify.models import CallEvent, Delivery

BATCH = 5000  # short transactions: deliveries keep flowing while old rows go


def _delete_in_batches(queryset: QuerySet) -> int:
    total = 0
    while ids := list(queryset.values_list("pk", flat=True)[:BATCH]):
        total += queryset.model.objects.filter(pk__in=ids).delete()[1].get(queryset.model._meta.label, 0)
    return total


class Command(BaseCommand):
    help = "Delete DELIVERED/FAILED deliveries finished more than --days ago (default CALLNOTIFY_RETENTION_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=None, help="keep this many days (default: the setting)")

    def handle(self, *args: object, days: int | None, **options: object) -> None:
        days = settings.CALLNOTIFY_RETENTION_DAYS if days is None else days
        if days < 0:
            raise CommandError("--days must be 0 or more")
        cutoff = timezone.now() - timedelta(days=days)
        # PENDING deliveries are never pruned, however old: they are still owed to someone.
        deliveries = _delete_in_batches(Delivery.objects.exclude(state=Delivery.State.PENDING).filter(finished_at__lt=cutoff))
        events = _delete_in_batches(CallEvent.objects.filter(created_at__lt=cutoff, deliveries__isnull=True))
        self.stdout.write(f"removed {deliveries} deliveries and {events} events older than {days} days")
        self.stdout.write(f"removed {endpoint_health.prune()} per-minute health and dashboard rows older than two days")
