"""Call notify URLs, under /api/ in telecomx/urls.py (docs/api.md §5, docs/callevents.md §1, §5),
which tries `callevent` before any other route."""

from __future__ import annotations

from django.urls import path

from callnotify.views import (CallEventListView, CallEventView, CallNotifyViewSet, DeliveryListView, RecoverView, RetryView,
                              TestEventView)
from core.api import resource_urls

ITEM = "customer/<str:customer_id>/callnotify/<str:pk>"

urlpatterns = [
    path("callevent", CallEventView.as_view(), name="callevent"),  # a switch posts every call event here
    *resource_urls("customer/<str:customer_id>/callnotify", CallNotifyViewSet, "callnotify"),
    path(f"{ITEM}/deliveries", DeliveryListView.as_view(), name="callnotify-deliveries"),
    path(f"{ITEM}/test", TestEventView.as_view(), name="callnotify-test"),
    path(f"{ITEM}/deliveries/<str:delivery_id>/retry", RetryView.as_view(), name="callnotify-delivery-retry"),
    path(f"{ITEM}/recover", RecoverView.as_view(), name="callnotify-recover"),
    path("customer/<str:customer_id>/callevent", CallEventListView.as_view(), name="customer-callevents"),
]
