"""URL map: the API under /api/, the admin under /admin/. Each app's routes are its urls.py, included."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from callnotify.views import CallNotifyViewSet
from telecomx.api import resource_urls
from telecomx.health import HealthView
from telecomx.metrics import MetricsView

api = [
    path("", include("accounts.urls")),
    *resource_urls("customer/<str:customer_id>/callnotify", CallNotifyViewSet, "callnotify"),
    path("", include("sbcrules.urls")),
    path("health", HealthView.as_view(), name="health"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api)),
]

# Call events: ingestion, delivery log and test of a call notify item (docs/callevents.md).
from callnotify import event_views  # noqa: E402

api += event_views.urls

# Replay and recovery of deliveries, and a customer's call events (docs/callevents.md).
from callnotify import replay  # noqa: E402

api += replay.urls

# A switch calls these for every call: matched first (the app whose urls.py holds one, and that
# route first within it), before the rest of the map is tried.
HOT_PATHS = ("sbc-route", "callevent")


def _hot(pattern: object) -> bool:
    names = [getattr(p, "name", None) for p in getattr(pattern, "url_patterns", [pattern])]
    return any(name in HOT_PATHS for name in names)


api.sort(key=lambda pattern: not _hot(pattern))
