"""Factories for peers, hosts, rules, trunks, DK operators and number portability data."""

import factory

from sbcrules.models import DkOperator, Host, NumberRange, Peer, PortedNumber, Rule, Trunk
from tests.accounts.factories import CustomerFactory


class PeerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Peer
        skip_postgeneration_save = True

    id = factory.Sequence(lambda n: f"PEER{n}")
    name = factory.LazyAttribute(lambda peer: f"{peer.id} A/S")

    @factory.post_generation
    def hosts(obj, create, extracted, **kwargs):  # noqa: N805
        """PeerFactory(hosts=["192.0.2.1", ("192.0.2.2", True)]); one host that is up by default."""
        if not create:
            return
        wanted = extracted if extracted is not None else [f"198.51.100.{Host.objects.count() % 250 + 1}"]
        for item in wanted:
            address, down = item if isinstance(item, tuple) else (item, False)
            Host.objects.create(peer=obj, address=address, down=down)

    class Params:
        down = factory.Trait(up=False)
        is_default = factory.Trait(default=True)


class HostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Host

    peer = factory.SubFactory(PeerFactory, hosts=[])
    address = factory.Sequence(lambda n: f"203.0.113.{n % 250 + 1}")


class DkOperatorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DkOperator
        django_get_or_create = ("id",)

    id = factory.Sequence(lambda n: f"{10000 + n:05d}")
    name = factory.Sequence(lambda n: f"Operator {n}")


class RuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rule

    type = Rule.Type.PREFIX
    condition = factory.Sequence(lambda n: f"+46{n}")
    peer = factory.SubFactory(PeerFactory)
    note = ""


class PortedNumberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PortedNumber

    number = factory.Sequence(lambda n: f"+4520{n:06d}")
    operator = factory.SubFactory(DkOperatorFactory)


class NumberRangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NumberRange

    prefix = factory.Sequence(lambda n: f"+453{n}")
    operator = factory.SubFactory(DkOperatorFactory)


class TrunkFactory(factory.django.DjangoModelFactory):
    """A trunk saved as the API saves one (its sources claimed: sbcrules.trunks.save_trunk)."""

    class Meta:
        model = Trunk

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Sequence(lambda n: f"Trunk {n}")
    sources = factory.Sequence(lambda n: [f"203.0.113.{n % 250 + 1}"])

    @classmethod
    def _create(cls, model_class, *args, **kwargs):  # noqa: ANN001, ANN206
        from sbcrules.trunks import save_trunk

        trunk = model_class(*args, **kwargs)
        save_trunk(trunk)
        return trunk
