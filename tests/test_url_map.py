"""The URL map: a switch's two routes are the first patterns tried, and each is in the map once."""

from __future__ import annotations

from django.urls import resolve, reverse

from callnotify.views import CallEventView
from sbcrules.views import RouteView
from telecomx.urls import HOT_PATHS, urlpatterns
from tests.routes import api_routes


def test_a_switchs_routes_are_the_first_the_map_tries():
    assert [pattern.name for pattern in urlpatterns[: len(HOT_PATHS)]] == list(HOT_PATHS) == ["sbc-route", "callevent"]
    assert resolve("/api/sbc/route").func.view_class is RouteView
    assert resolve("/api/callevent").func.view_class is CallEventView
    assert (reverse("sbc-route"), reverse("callevent")) == ("/api/sbc/route", "/api/callevent")


def test_each_route_is_in_the_map_once():
    names = [name for name, _, _ in api_routes()]
    assert len(names) == len(set(names))
    assert set(HOT_PATHS) <= set(names)
