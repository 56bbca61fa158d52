"""API rate limits (429 `rate_limited`), read from settings on each request so they can be tuned."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle


class EmployeeRateThrottle(UserRateThrottle):
    def get_rate(self) -> str:
        return settings.API_RATE_USER


class AnonymousRateThrottle(AnonRateThrottle):
    def get_rate(self) -> str:
        return settings.API_RATE_ANON
