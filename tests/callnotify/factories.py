"""Factories for call notify items."""

import factory

from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory


class CallNotifyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallNotify

    customer = factory.SubFactory(CustomerFactory)
    # A documentation address (RFC 5737): refused at send time, so a test delivery never leaves the machine.
    url = factory.Sequence(lambda n: f"http://192.0.2.{n % 250 + 1}:4000/call{n}")
    method = CallNotify.Method.POSTJSON
    selection = CallNotify.Selection.ALL
