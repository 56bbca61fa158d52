"""The authentication routes (docs/api.md §4) and the service accounts' API keys (ADMIN only,
docs/switch.md), included under /api/ by telecomx/urls.py."""

from django.urls import URLPattern, path

from accounts.views import ApiKeyListView, ApiKeyView, LoginView, LogoutView, ValidateTokenView

urlpatterns: list[URLPattern] = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/validateToken", ValidateTokenView.as_view(), name="auth-validate"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
    path("apikey", ApiKeyListView.as_view(), name="apikey-list"),
    path("apikey/<str:pk>", ApiKeyView.as_view(), name="apikey-detail"),
]
