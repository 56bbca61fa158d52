"""URL map: the API under /api/, the admin under /admin/, Prometheus's /metrics. Each app's routes are its urls.py's list."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.urls import urlpatterns as accounts_urls
from callnotify.urls import urlpatterns as callnotify_urls
from console.health import LiveView, ReadyView
from console.metrics import MetricsView
from console.prometheus import metrics_view
from sbcrules.urls import urlpatterns as sbcrules_urls

# A switch calls these for every call: they are the first patterns of the whole map, so that
# resolving one tries no other route (under /api/ with the apps' other routes, the call event
# post was tried against every SBC route first).
HOT_PATHS = ("sbc-route", "callevent")

apps = [*accounts_urls, *callnotify_urls, *sbcrules_urls]
hot = sorted((p for p in apps if p.name in HOT_PATHS), key=lambda p: HOT_PATHS.index(p.name))
assert len(hot) == len(HOT_PATHS), "every hot path is an app's route"

api = [
    *(p for p in apps if p.name not in HOT_PATHS),
    path("health", ReadyView.as_view(), name="health"),  # the same as ready
    path("health/ready", ReadyView.as_view(), name="health-ready"),
    path("health/live", LiveView.as_view(), name="health-live"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    *(path(f"api/{p.pattern}", p.callback, name=p.name) for p in hot),
    path("admin/", admin.site.urls),
    path("api/", include(api)),
    # Prometheus's own place, outside the API (docs/operations.md, "Metrics").
    path("metrics", metrics_view, name="prometheus-metrics"),
]
