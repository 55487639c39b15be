"""A random portfolio under one participant, built through the services, and the
dashboard's figures computed afresh from its plans and payments with the pure rules."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from decimal import Decimal

from django.conf import settings

from backoffice.lib.errors import DomainError
from clients.models import Investor
from dashboard import rules as dash
from installments import activity, rules
from installments.models import Allocation, Plan, PlanStatus
from installments.services import payment_record, plan_hold, plans_cancel_expired
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
    _hold(rnd, root, today)
    return root


def more_payments(seed: int, root: Investor, today: dt.date) -> int:
    """Payments received in the last 10 days on a random half of the structure's active
    plans: money recovered within grace, plans cured, activity for the segments. The number
    recorded."""
    rnd = random.Random(seed + 1)
    plans = Plan.objects.filter(
        investor__in=Investor.objects.in_structure_of(root), status=PlanStatus.ACTIVE
    ).order_by("pk")
    recorded = 0
    for plan in plans:
        left = sum(i.unpaid for i in plan.installments.all())
        amount = min(left, Decimal(rnd.choice(["100.00", "250.00", "1000.00"])))
        if rnd.random() < 0.5 or amount <= 0:
            continue
        day = today - dt.timedelta(days=rnd.randint(0, 9))
        with contextlib.suppress(DomainError):  # a day before the plan was bought: refused
            payment_record(
                plan=plan, amount=amount, received_on=day, reference=f"more-{plan.pk}", today=today
            )
            recorded += 1
    return recorded


def _hold(rnd, root: Investor, today: dt.date) -> None:
    """Holds on a few active plans: some keep a client past the grace days without passing
    the deadline, some end before today."""
    for plan in Plan.objects.filter(
        investor__in=Investor.objects.in_structure_of(root), status=PlanStatus.ACTIVE
    ):
        if rnd.random() < 0.25:
            until = today + dt.timedelta(days=rnd.randint(-3, 15))
            # A hold the rules refuse (ending in the past): none.
            with contextlib.suppress(DomainError):
                plan_hold(plan=plan, until=until, reason="travelling", today=today)


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


def expected(root: Investor | None, today: dt.date) -> dict:
    """Every figure of GET /api/dashboard/ (but `trend`) from the plans, installments,
    payments and contact log, in Python with the pure rules: no queryset of the dashboard's,
    no SQL twin. `root` None: the whole book."""
    scope = Investor.objects.all() if root is None else Investor.objects.in_structure_of(root)
    investors = list(scope.prefetch_related("plans__installments", "plans__payments"))
    plans = [p for i in investors for p in i.plans.all()]
    invested = sum((p.price for p in plans), ZERO)
    cancelled = sum((p.price for p in plans if p.status == PlanStatus.CANCELLED), ZERO)
    buckets = _buckets(investors, today)
    hours, within = _first_contact(investors, today)
    saved, cancelled_month = _this_month(plans, today)
    return {
        "as_of": today.isoformat(),
        "clients": len(investors),
        "overdue_clients": sum(c for c, _ in buckets.values()),
        "overdue_by_bucket": [
            {"bucket": b, "clients": c, "amount": f"{a:.2f}"} for b, (c, a) in buckets.items()
        ],
        "invested": f"{invested:.2f}",
        "cancelled": f"{cancelled:.2f}",
        "cancelled_share": _text(dash.share(cancelled, invested)),
        "recovered_in_grace_30d": f"{recovered(plans, today):.2f}",
        "cure_rate_30d": _text(_cure_rate(plans, today)),
        "promises": _promises(investors, today),
        "first_contact_hours_median": _text(hours),
        "first_contact_within_10h_share": _text(within),
        "segments": _segments(investors, today),
        "saved_this_month": saved,
        "cancelled_this_month": cancelled_month,
    }


ZERO = Decimal("0.00")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _unpaid(plan: Plan) -> list:
    return [i for i in plan.installments.all() if i.paid_on is None]


def _overdue(plan: Plan, today: dt.date) -> bool:
    """Active with an unpaid installment due before today."""
    return plan.status == PlanStatus.ACTIVE and any(
        rules.is_overdue(i.due_date, today) for i in _unpaid(plan)
    )


def _buckets(investors: list[Investor], today: dt.date) -> dict:
    buckets = {b: [0, ZERO] for b in rules.BUCKETS}
    for investor in investors:
        late = [p for p in investor.plans.all() if _overdue(p, today)]
        if not late:
            continue
        oldest = min(min(i.due_date for i in _unpaid(p)) for p in late)
        deadline = min(
            rules.grace_deadline(
                min(i.due_date for i in _unpaid(p)),
                hold_until=p.hold_until,
                extended_to=p.grace_extended_to,
            )
            for p in late
        )
        bucket = rules.bucket_of(
            days_overdue=(today - oldest).days, days_left=rules.days_left(deadline, today)
        )
        buckets[bucket][0] += 1
        buckets[bucket][1] += sum(
            i.amount - i.paid_amount
            for p in late
            for i in _unpaid(p)
            if rules.is_overdue(i.due_date, today)
        )
    return buckets


def recovered(plans: list[Plan], today: dt.date) -> Decimal:
    """Allocated in the last 30 days to installments already overdue on the day received."""
    start = dash.recent_start(today)
    return sum(
        (
            a.amount
            for a in Allocation.objects.select_related("payment", "installment").filter(
                installment__plan__in=plans
            )
            if start <= a.payment.received_on <= today
            and a.payment.received_on > a.installment.due_date
        ),
        ZERO,
    )


def _fell_overdue(plan: Plan, first: dt.date, last: dt.date) -> list:
    """The plan's installments due from `first` to `last` not paid by their due date, the
    plan not cancelled before they fell due."""
    return [
        i
        for i in plan.installments.all()
        if first <= i.due_date <= last
        and (i.paid_on is None or i.paid_on > i.due_date)
        and not (plan.cancelled_on is not None and plan.cancelled_on <= i.due_date)
    ]


def _back_on_track(plan: Plan, today: dt.date) -> bool:
    return plan.status != PlanStatus.CANCELLED and not _overdue(plan, today)


def _cure_rate(plans: list[Plan], today: dt.date) -> Decimal | None:
    first, last = dash.fell_overdue_window(today)
    fell = [p for p in plans if _fell_overdue(p, first, last)]
    return dash.share(sum(1 for p in fell if _back_on_track(p, today)), len(fell))


def _this_month(plans: list[Plan], today: dt.date) -> tuple[int, int]:
    first = today.replace(day=1)
    fell = [p for p in plans if _fell_overdue(p, first - dt.timedelta(days=1), today - DAY)]
    saved = sum(1 for p in fell if _back_on_track(p, today))
    cancelled = sum(
        1 for p in plans if p.status == PlanStatus.CANCELLED and p.cancelled_on >= first
    )
    return saved, cancelled


DAY = dt.timedelta(days=1)


def _promises(investors: list[Investor], today: dt.date) -> dict:
    promises = {"kept": 0, "broken": 0, "pending": 0}
    for entry in ContactLogEntry.objects.filter(investor__in=investors, outcome="promised"):
        paid = sum(
            payment.amount
            for plan in entry.investor.plans.all()
            for payment in plan.payments.all()
            if entry.contacted_on <= payment.received_on <= entry.promised_on
        )
        state = (
            "kept"
            if paid >= entry.promised_amount
            else "broken"
            if entry.promised_on < today
            else "pending"
        )
        promises[state] += 1
    return promises


def _first_contact(investors: list[Investor], today: dt.date):
    first, last = dash.fell_overdue_window(today)
    zone = settings.BUSINESS_TIME_ZONE
    hours, fell = [], 0
    for investor in investors:
        due = [i.due_date for p in investor.plans.all() for i in _fell_overdue(p, first, last)]
        if not due:
            continue
        fell += 1
        since = dt.datetime.combine(min(due) + DAY, dt.time(), tzinfo=zone)
        contacts = [
            e.contacted_at
            for e in ContactLogEntry.objects.filter(investor=investor)
            if e.contacted_at >= since
        ]
        if contacts:
            hours.append(Decimal((min(contacts) - since).total_seconds()) / 3600)
    if not fell:
        return None, None
    within = sum(1 for h in hours if h <= dash.FIRST_CONTACT_TARGET_HOURS)
    return dash.median_hours(hours), dash.share(within, fell)


def _segments(investors: list[Investor], today: dt.date) -> dict:
    limits = activity.SegmentThresholds(
        recent_days=settings.ACTIVITY_RECENT_DAYS,
        few_max=settings.ACTIVITY_FEW_MAX,
        vip_min=settings.ACTIVITY_VIP_MIN,
        window_days=settings.ACTIVITY_WINDOW_DAYS,
    )
    start = activity.activity_window_start(today, limits)
    counts = dict.fromkeys(activity.Segment.ALL, 0)
    for investor in investors:
        days = [p.purchased_on for p in investor.plans.all()] + [
            pay.received_on for p in investor.plans.all() for pay in p.payments.all()
        ]
        days = [d for d in days if d <= today]
        segment = activity.activity_segment(
            last_activity=max(days, default=None),
            activities=sum(1 for d in days if d >= start),
            today=today,
            thresholds=limits,
        )
        if segment is not None:
            counts[segment] += 1
    return counts
