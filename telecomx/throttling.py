"""API rate limits (429 `rate_limited`), read from settings on each request so they can be tuned.

Service accounts — holding `callnotify.add_callevent` or `sbcrules.lookup_route` — are switches,
not people: on the views they exist for (a view says so with `service_view = True`: the call
event ingestion and the route look-up) they get API_RATE_SERVICE instead of API_RATE_USER.
The permission was already read by the view's permission check, so this costs no query.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

SERVICE_PERMISSIONS = ("callnotify.add_callevent", "sbcrules.lookup_route")


def is_service_account(user: object) -> bool:
    has_perm = getattr(user, "has_perm", None)
    return has_perm is not None and any(has_perm(perm) for perm in SERVICE_PERMISSIONS)


class EmployeeRateThrottle(UserRateThrottle):
    def allow_request(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        if getattr(view, "service_view", False) and is_service_account(request.user):
            self.rate = settings.API_RATE_SERVICE
        else:
            self.rate = settings.API_RATE_USER
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str:
        return settings.API_RATE_USER


class AnonymousRateThrottle(AnonRateThrottle):
    def get_rate(self) -> str:
        return settings.API_RATE_ANON
