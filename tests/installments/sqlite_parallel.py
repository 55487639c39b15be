"""Run as a program by test_sqlite_concurrency.py on a file SQLite database (the test suite's
own is in memory, where no second connection ever waits): twenty parallel payments and twenty
parallel token requests through the API, then print what was answered and posted as JSON."""

import datetime as dt
import json
import sys
import threading
from decimal import Decimal

import django

PARALLEL = 20


def main() -> None:
    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from clients.services import investor_create
    from installments.models import Package, Payment, PurchaseStage
    from installments.services import plan_create

    call_command("migrate", verbosity=0)
    today = dt.date(2026, 11, 30)
    PurchaseStage.objects.create(name="S", share_price=Decimal("1.00"), starts_on=today)
    package = Package.objects.create(
        name="P", shares=2100, price=Decimal("2100.00"), installment_count=21
    )
    plan = plan_create(
        investor=investor_create(name="Asha"), package=package, first_due_date=today, today=today
    )
    staff = User.objects.create_user("staff", password="a-long-staff-password", is_staff=True)
    token = Token.objects.create(user=staff).key
    for n in range(PARALLEL):
        User.objects.create_user(f"user{n}", password="a-long-user-password")
    barrier = threading.Barrier(PARALLEL)
    investors = [investor_create(name=f"Client {n}") for n in range(PARALLEL)]
    answers: dict[str, list[int]] = {"payments": [], "tokens": [], "same": [], "logins": []}

    def pay(n: int) -> None:
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}")
        body = {"plan": plan.pk, "amount": "100.00", "received_on": "2026-11-30"}
        barrier.wait()
        response = client.post("/api/payments/", {**body, "reference": f"REF-{n}"})
        answers["payments"].append(response.status_code)
        connections.close_all()

    def pay_same(n: int) -> None:
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}")
        body = {"plan": plan.pk, "amount": "100.00", "received_on": "2026-11-30"}
        barrier.wait()
        response = client.post("/api/payments/", {**body, "reference": "SAME-REF"})
        answers["same"].append(response.status_code)
        connections.close_all()

    def grant_login(n: int) -> None:
        client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token}")
        barrier.wait()
        response = client.post(
            f"/api/investors/{investors[n].pk}/grant-login/",
            {"username": f"client{n}", "password": "a-long-client-password"},
        )
        answers["logins"].append(response.status_code)
        connections.close_all()

    def sign_in(n: int) -> None:
        barrier.wait()
        response = Client(raise_request_exception=False).post(
            "/api/auth/token/", {"username": f"user{n}", "password": "a-long-user-password"}
        )
        answers["tokens"].append(response.status_code)
        connections.close_all()

    for work in (pay, pay_same, grant_login, sign_in):
        threads = [threading.Thread(target=work, args=(n,)) for n in range(PARALLEL)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    answers["posted"] = [Payment.objects.filter(plan=plan).count()]
    answers["logins_made"] = [User.objects.filter(username__startswith="client").count()]
    json.dump(answers, sys.stdout)


if __name__ == "__main__":
    main()
