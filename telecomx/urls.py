"""URL map: the API under /api/, the admin under /admin/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import LoginView, LogoutView, ValidateTokenView
from callnotify.views import CallNotifyViewSet
from sbcrules.urls import urlpatterns as sbcrules_api
from telecomx.api import resource_urls
from telecomx.health import HealthView
from telecomx.metrics import MetricsView

api = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/validateToken", ValidateTokenView.as_view(), name="auth-validate"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    *resource_urls("customer/<str:customer_id>/callnotify", CallNotifyViewSet, "callnotify"),
    *sbcrules_api,
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

# Service accounts' API keys (switches), ADMIN only (docs/switch.md).
from accounts.views import ApiKeyListView, ApiKeyView  # noqa: E402

api += [path("apikey", ApiKeyListView.as_view(), name="apikey-list"), path("apikey/<str:pk>", ApiKeyView.as_view(), name="apikey-detail")]

# A switch calls these for every call: matched first, before the rest of the map is tried.
HOT_PATHS = ("sbc-route", "callevent")
api.sort(key=lambda pattern: getattr(pattern, "name", None) not in HOT_PATHS)
