"""The product's URL map plus /bare/… views: plain Django doing the same database work, no DRF."""

from django.urls import path

from bench import bare
from telecomx.urls import urlpatterns as product

urlpatterns = [
    path("bare/callnotify/<str:customer_id>", bare.callnotify_list),
    path("bare/callnotify/<str:customer_id>/create", bare.callnotify_create),
    path("bare/rule", bare.rule_list),
    path("bare/route", bare.route),
    path("bare/route-probed", bare.route_probed),
    path("bare/callevent", bare.callevent),
    *product,
]
