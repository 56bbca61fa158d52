"""The SBC and DK routes (docs/api.md §6-8), under /api/ in telecomx/urls.py."""

from django.urls import URLPattern, path

from core.api import resource_urls
from sbcrules.dk_views import DkNumberListView, DkNumberView, DkOperatorViewSet
from sbcrules.views import PeerHostView, PeerViewSet, RouteView, RuleViewSet, TrunkViewSet

urlpatterns: list[URLPattern] = [
    path("sbc/route", RouteView.as_view(), name="sbc-route"),  # a switch asks it for every call: telecomx/urls.py tries it first
    *resource_urls("sbc/rule", RuleViewSet, "sbc-rule"),
    path("sbc/peer/<str:peer_id>/host/<str:host_ip>", PeerHostView.as_view(), name="sbc-peer-host"),
    *resource_urls("sbc/peer", PeerViewSet, "sbc-peer"),
    *resource_urls("customer/<str:customer_id>/trunk", TrunkViewSet, "trunk"),
    *resource_urls("dk/operator", DkOperatorViewSet, "dk-operator"),
    path("dk/number", DkNumberListView.as_view(), name="dk-number-list"),
    path("dk/number/<str:number>", DkNumberView.as_view(), name="dk-number"),
]
