"""URL map: the API under /api/, the admin under /admin/, Prometheus's /metrics. Each app's routes are its urls.py, included."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from console.metrics import MetricsView
from console.prometheus import metrics_view
from console.health import LiveView, ReadyView

api = [
    path("", include("accounts.urls")),
    path("", include("callnotify.urls")),
    path("", include("sbcrules.urls")),
    path("health", ReadyView.as_view(), name="health"),  # the same as ready
    path("health/ready", ReadyView.as_view(), name="health-ready"),
    path("health/live", LiveView.as_view(), name="health-live"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

# A switch calls these for every call: matched first, in this order (the app whose urls.py holds
# one, and that route first within it), before the rest of the map is tried.
HOT_PATHS = ("sbc-route", "callevent")


def _heat(pattern: object) -> int:
    """The place in HOT_PATHS of the hottest route a pattern holds; len(HOT_PATHS) for none."""
    names = [getattr(p, "name", None) for p in getattr(pattern, "url_patterns", [pattern])]
    return min((HOT_PATHS.index(name) for name in names if name in HOT_PATHS), default=len(HOT_PATHS))


api.sort(key=_heat)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    # Prometheus's own place, outside the API (docs/operations.md, "Metrics").
    path("metrics", metrics_view, name="prometheus-metrics"),
]
