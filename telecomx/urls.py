"""URL map: the API under /api/, the admin under /admin/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import ApiKeyListView, ApiKeyView, LoginView, LogoutView, ValidateTokenView
from callnotify.views import CallEventView
from sbcrules.urls import urlpatterns as sbcrules_api
from telecomx.health import HealthView
from telecomx.metrics import MetricsView

api = [
    # A switch calls this for every call event: listed first (sbcrules' route look-up is sorted up below).
    path("callevent", CallEventView.as_view(), name="callevent"),
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/validateToken", ValidateTokenView.as_view(), name="auth-validate"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("", include("callnotify.urls")),
    *sbcrules_api,
    path("health", HealthView.as_view(), name="health"),
    path("metrics", MetricsView.as_view(), name="metrics"),
    path("schema", SpectacularAPIView.as_view(), name="schema"),
    path("docs", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    # Service accounts' API keys (switches), ADMIN only (docs/switch.md).
    path("apikey", ApiKeyListView.as_view(), name="apikey-list"),
    path("apikey/<str:pk>", ApiKeyView.as_view(), name="apikey-detail"),
]
# A switch calls these for every call: matched first, before the rest of the map is tried.
HOT_PATHS = ("sbc-route", "callevent")
api.sort(key=lambda pattern: getattr(pattern, "name", None) not in HOT_PATHS)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api)),
]
