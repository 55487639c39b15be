"""Run as a program by test_sqlite_concurrency.py on a file SQLite database (the test suite's
own is in memory, where no second connection ever waits): twenty parallel payments, twenty
parallel posts of one reference, twenty parallel logins granted and twenty parallel token
requests through the API, then print what was answered and made as JSON."""

import datetime as dt
import json
import sys
import threading
from collections.abc import Callable
from decimal import Decimal

import django

PARALLEL = 20
TODAY = dt.date(2026, 11, 30)


def book() -> tuple[int, str, list[int]]:
    """A plan with room for 21 payments, a staff token, and investors to grant logins to."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    from clients.services import investor_create
    from installments.models import Package, PurchaseStage
    from installments.services import plan_create

    call_command("migrate", verbosity=0)
    PurchaseStage.objects.create(name="S", share_price=Decimal("1.00"), starts_on=TODAY)
    package = Package.objects.create(
        name="P", shares=2100, price=Decimal("2100.00"), installment_count=21
    )
    plan = plan_create(
        investor=investor_create(name="Asha"), package=package, first_due_date=TODAY, today=TODAY
    )
    staff = User.objects.create_user("staff", password="a-long-staff-password", is_staff=True)
    for n in range(PARALLEL):
        User.objects.create_user(f"user{n}", password="a-long-user-password")
    investors = [investor_create(name=f"Client {n}").pk for n in range(PARALLEL)]
    return plan.pk, Token.objects.create(user=staff).key, investors


def all_at_once(request: Callable[[int], tuple[str, dict]], token: str = "") -> list[int]:
    """POST request(n) for n in 0..PARALLEL-1 from as many threads, released together."""
    from django.db import connections
    from django.test import Client

    barrier = threading.Barrier(PARALLEL)
    codes: list[int] = []
    headers = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}

    def one(n: int) -> None:
        client = Client(raise_request_exception=False, **headers)
        path, body = request(n)
        barrier.wait()
        codes.append(client.post(path, body).status_code)
        connections.close_all()

    threads = [threading.Thread(target=one, args=(n,)) for n in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return codes


def main() -> None:
    django.setup()
    from django.contrib.auth.models import User

    from installments.models import Payment

    plan, token, investors = book()
    payment = {"plan": plan, "amount": "100.00", "received_on": TODAY.isoformat()}
    answers = {
        "payments": all_at_once(
            lambda n: ("/api/payments/", {**payment, "reference": f"REF-{n}"}), token
        ),
        "same": all_at_once(lambda n: ("/api/payments/", {**payment, "reference": "SAME"}), token),
        "logins": all_at_once(
            lambda n: (
                f"/api/investors/{investors[n]}/grant-login/",
                {"username": f"client{n}", "password": "a-long-client-password"},
            ),
            token,
        ),
        "tokens": all_at_once(
            lambda n: (
                "/api/auth/token/",
                {"username": f"user{n}", "password": "a-long-user-password"},
            )
        ),
        "posted": [Payment.objects.filter(plan_id=plan).count()],
        "logins_made": [User.objects.filter(username__startswith="client").count()],
    }
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
