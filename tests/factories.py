"""factory_boy factories. Investors go through the service so their tree path is real."""

import datetime as dt
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from clients.models import Investor
from clients.services import investor_create
from installments.models import Package, Promotion, PurchaseStage
from installments.services import plan_create


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True
    username = factory.Sequence(lambda n: f"admin{n}")


class InvestorFactory(factory.Factory):
    class Meta:
        model = Investor

    name = factory.Faker("name")
    sponsor = None
    phone = factory.Sequence(lambda n: f"+9198{n:08d}")
    email = factory.Sequence(lambda n: f"investor{n}@example.com")
    messenger = ""
    language = "en"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return investor_create(**kwargs)


def participant(username: str = "participant", **kwargs) -> Investor:
    """An investor who can sign in to the back office."""
    investor = InvestorFactory(**kwargs)
    investor.user = UserFactory(username=username)
    investor.save(update_fields=["user"])
    return investor


class StageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PurchaseStage
        django_get_or_create = ("starts_on",)

    name = "Stage 1"
    share_price = Decimal("1.00")
    starts_on = dt.date(2020, 1, 1)


class PackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Package

    name = factory.Sequence(lambda n: f"Package {n}")
    shares = 3000
    price = Decimal("3000.00")
    installment_count = 10
    final_payment_fraction = "2/3"


class PromotionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Promotion

    name = factory.LazyAttribute(lambda p: f"{p.kind} promotion")
    kind = "on_time"
    percentage = Decimal("5")
    starts_on = dt.date(2020, 1, 1)
    ends_on = None


def make_plan(
    *,
    investor: Investor | None = None,
    package: Package | None = None,
    first_due_date: dt.date = dt.date(2025, 1, 10),
    today: dt.date | None = None,
    **package_terms,
):
    """A plan bought on `today` (default: the first due date) under an existing stage."""
    StageFactory()
    return plan_create(
        investor=investor or InvestorFactory(),
        package=package or PackageFactory(**package_terms),
        first_due_date=first_due_date,
        today=today or first_due_date,
    )
