"""A random portfolio under one participant, built through the services, and the
dashboard's figures computed afresh from its plans and payments with the pure rules."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.conf import settings

from backoffice.lib.errors import DomainError
from clients.models import Investor
from dashboard import rules as dash
from installments import rules
from installments.models import Allocation, Plan, PlanStatus
from installments.services import payment_record, plans_cancel_expired
from structure.models import ContactLogEntry
from structure.services import contact_log_record
from tests.factories import InvestorFactory, PackageFactory, make_plan, participant


def build(seed: int, today: dt.date, *, size: int = 12) -> Investor:
    rnd = random.Random(seed)
    root = participant(f"p{seed}")
    people = [root]
    packages = [
        PackageFactory(price=Decimal(p), installment_count=n)
        for p, n in (("1000.00", 4), ("3000.00", 10), ("250.00", 3))
    ]
    for n in range(size):
        investor = InvestorFactory(sponsor=rnd.choice(people))
        people.append(investor)
        for _ in range(rnd.randint(0, 2)):
            first_due = today - dt.timedelta(days=rnd.randint(-10, 200))
            plan = make_plan(
                investor=investor,
                package=rnd.choice(packages),
                first_due_date=first_due,
                today=min(first_due, today),
            )
            _pay(rnd, plan, today, f"{seed}-{n}-{plan.pk}")
        if rnd.random() < 0.6:
            _contact(rnd, investor, today)
    plans_cancel_expired(scan_date=today - dt.timedelta(days=rnd.randint(0, 20)))
    return root


def _pay(rnd, plan: Plan, today: dt.date, ref: str) -> None:
    day = plan.first_due_date
    for k in range(rnd.randint(0, 6)):
        day = day + dt.timedelta(days=rnd.randint(5, 40))
        if day > today:
            return
        plan.refresh_from_db()
        if plan.status != PlanStatus.ACTIVE:
            return
        left = sum(i.unpaid for i in plan.installments.all())
        amount = min(left, Decimal(rnd.choice(["100.00", "250.00", "333.33"])))
        if amount <= 0:
            return
        payment_record(
            plan=plan, amount=amount, received_on=day, reference=f"{ref}-{k}", today=today
        )


def _contact(rnd, investor: Investor, today: dt.date) -> None:
    zone = settings.BUSINESS_TIME_ZONE
    for _ in range(rnd.randint(1, 3)):
        day = today - dt.timedelta(days=rnd.randint(0, 40))
        at = dt.datetime.combine(day, dt.time(rnd.randint(0, 23)), tzinfo=zone)
        promised_on = day + dt.timedelta(days=rnd.randint(0, 10))
        if rnd.random() < 0.5:
            try:
                contact_log_record(
                    investor=investor,
                    author=None,
                    outcome="promised",
                    today=day,
                    promised_on=promised_on,
                    promised_amount="100.00",
                    at=at,
                )
                continue
            except DomainError:
                pass  # a promise the plans cannot wait for, or more than is owed: refused
        contact_log_record(investor=investor, author=None, outcome="reached", today=day, at=at)


def expected(root: Investor, today: dt.date) -> dict:
    """The figures from the plans, installments, payments and contact log, in Python."""
    investors = list(Investor.objects.in_structure_of(root))
    plans = [p for i in investors for p in i.plans.all()]
    buckets = {b: [0, Decimal("0.00")] for b in dash.BUCKETS}
    overdue_clients = 0
    for investor in investors:
        active = [p for p in investor.plans.all() if p.status == PlanStatus.ACTIVE]
        owed = [
            (p, i)
            for p in active
            for i in p.installments.all()
            if i.paid_on is None and rules.is_overdue(i.due_date, today)
        ]
        if not owed:
            continue
        overdue_clients += 1
        oldest = min(i.due_date for _, i in owed)
        deadline = min(
            rules.grace_deadline(
                min(i.due_date for q, i in owed if q == p),
                hold_until=p.hold_until,
                extended_to=p.grace_extended_to,
            )
            for p in {p for p, _ in owed}
        )
        bucket = dash.bucket_of(
            days_overdue=(today - oldest).days, days_left=rules.days_left(deadline, today)
        )
        buckets[bucket][0] += 1
        buckets[bucket][1] += sum(i.amount - i.paid_amount for _, i in owed)
    invested = sum((p.price for p in plans), Decimal("0.00"))
    cancelled = sum((p.price for p in plans if p.status == PlanStatus.CANCELLED), Decimal("0.00"))
    start = dash.recent_start(today)
    recovered = sum(
        (
            a.amount
            for a in Allocation.objects.select_related("payment", "installment").filter(
                installment__plan__in=plans
            )
            if start <= a.payment.received_on <= today
            and a.payment.received_on > a.installment.due_date
        ),
        Decimal("0.00"),
    )
    promises = {"kept": 0, "broken": 0, "pending": 0}
    for entry in ContactLogEntry.objects.filter(investor__in=investors, outcome="promised"):
        paid = sum(
            p.amount
            for p in entry.investor.plans.all()
            for p in p.payments.all()
            if entry.contacted_on <= p.received_on <= entry.promised_on
        )
        state = (
            "kept"
            if paid >= entry.promised_amount
            else "broken"
            if entry.promised_on < today
            else "pending"
        )
        promises[state] += 1
    return {
        "clients": len(investors),
        "overdue_clients": overdue_clients,
        "overdue_by_bucket": [
            {"bucket": b, "clients": c, "amount": f"{a:.2f}"} for b, (c, a) in buckets.items()
        ],
        "invested": f"{invested:.2f}",
        "cancelled": f"{cancelled:.2f}",
        "cancelled_share": None if not invested else f"{dash.share(cancelled, invested)}",
        "recovered_in_grace_30d": f"{recovered:.2f}",
        "promises": promises,
    }
