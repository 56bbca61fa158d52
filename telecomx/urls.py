"""URL map: the API under /api/, the admin under /admin/."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import LoginView, LogoutView, ValidateTokenView
from sbcrules.urls import urlpatterns as sbcrules_api
from telecomx.health import HealthView
from telecomx.metrics import MetricsView

api = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/validateToken", ValidateTokenView.as_view(), name="auth-validate"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("", include("callnotify.urls")),
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
