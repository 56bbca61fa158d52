"""Factories for customers, employees and tokens."""

import factory

from accounts.models import AccessLevel, Customer, Employee, Token

PASSWORD = "correct horse battery staple"


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Customer {n}")
    features = factory.LazyFunction(list)

    class Params:
        reseller = factory.Trait(is_reseller=True, name=factory.Sequence(lambda n: f"Reseller {n}"))
        blocked = factory.Trait(state=Customer.State.BLOCKED)
        deleted = factory.Trait(state=Customer.State.DELETED)


class EmployeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Employee
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"employee{n}@example.com")
    name = factory.Faker("name")
    customer = factory.SubFactory(CustomerFactory)
    access_level = AccessLevel.VIEWER
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):  # noqa: N805
        if create:
            obj.save()

    class Params:
        disabled = factory.Trait(state=Employee.State.DISABLED)
        admin = factory.Trait(access_level=AccessLevel.ADMIN)


def issue_token(employee: Employee, *, persist: bool = False) -> str:
    return Token.objects.issue(employee, persist=persist)[1]
