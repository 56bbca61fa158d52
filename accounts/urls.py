"""The authentication routes (api.md §4), included under /api/ by telecomx/urls.py."""

from django.urls import URLPattern, path

from accounts.views import LoginView, LogoutView, ValidateTokenView

urlpatterns: list[URLPattern] = [
    path("auth/login", LoginView.as_view(), name="auth-login"),
    path("auth/validateToken", ValidateTokenView.as_view(), name="auth-validate"),
    path("auth/logout", LogoutView.as_view(), name="auth-logout"),
]
