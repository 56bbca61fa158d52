"""`manage.py check --deploy` warnings for settings that work on one process but not in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def shared_cache(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Login throttling, test-send and API rate limits are counted in the cache: it must be shared."""
    if "LocMemCache" not in settings.CACHES["default"]["BACKEND"]:
        return []
    return [Warning(
        "CACHE_URL is not set: login throttling and rate limits are counted per process, so each "
        "process lets an attacker try again from zero.",
        hint="Set CACHE_URL=redis://… for every process (README, Running in production).",
        id="telecomx.W001",
    )]
