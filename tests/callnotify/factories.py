"""Factories for call notify items."""

import factory

from callnotify.models import CallNotify
from tests.accounts.factories import CustomerFactory


class CallNotifyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CallNotify

    customer = factory.SubFactory(CustomerFactory)
    url = factory.Sequence(lambda n: f"http://100.64.{n // 250 % 250}.{n % 250 + 1}:4000/call")
    method = CallNotify.Method.POSTJSON
    selection = CallNotify.Selection.ALL
