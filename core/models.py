"""The per-minute named counters every app may add to (core.counters) and the dashboard reads."""

from __future__ import annotations

from django.db import models


class MinuteCount(models.Model):
    """Per minute, named counters: `delivery.<OUTCOME>` (callnotify's attempts by outcome) and
    `route.<reason>` (sbcrules' routing decisions of every process)."""

    name = models.CharField(max_length=40)
    minute = models.DateTimeField()
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        db_table = "callnotify_minutecount"  # where it was made: moving the model moved no data
        constraints = [models.UniqueConstraint(fields=["name", "minute"], name="callnotify_minutecount_key")]
        indexes = [models.Index(fields=["minute"], name="callnotify_minutecount_age")]
