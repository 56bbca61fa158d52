"""The real URL map plus views that fail, to test how unexpected failures are answered."""

from django.urls import path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny

from telecomx.urls import urlpatterns as real_urlpatterns


@api_view(["GET"])
@authentication_classes([])
@permission_classes([AllowAny])
def boom(request):
    raise RuntimeError("secret detail that must not leak")


def plain_boom(request):
    raise ZeroDivisionError("another secret")


urlpatterns = [path("api/boom", boom), path("api/plainboom", plain_boom), *real_urlpatterns]
