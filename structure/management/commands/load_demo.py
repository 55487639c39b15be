"""`manage.py load_demo`: a realistic demo portfolio, loaded through the services.

The data itself (who, which plans, which payments on which dates) is drawn in
`structure/demo.py`; this command is the edge: it computes "today" once, in the business time
zone, replays the portfolio through the services in one transaction and reports what is there.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import logging
import os
import time
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.db.models import ProtectedError

from backoffice.lib.dates import business_today
from backoffice.lib.errors import DomainError
from clients.models import PATH_END, Investor
from clients.services import investor_create, investor_grant_login, participant_grant_login
from installments.models import (
    BONUS_KINDS,
    Installment,
    Package,
    Payment,
    Plan,
    PlanEvent,
    PlanEventKind,
    PlanStatus,
    Promotion,
    PurchaseStage,
    ShareLedgerEntry,
)
from installments.read_model import investors_with_overdue, plans_changing
from installments.services import (
    payment_record,
    plan_create,
    plan_hold,
    plan_restore,
    plans_cancel_expired,
)
from reminders.models import Reminder, ScanRun
from structure import demo
from structure.demo_contacts import demo_contacts, log_summary
from structure.demo_history import TRIGGER, demo_history
from structure.help import help_request_ask

MAX_INVESTORS = 20_000  # a demo, not a load test: beyond this it takes minutes
PLAN_STATES = (
    "on track",
    "due in 0-3 days",
    "overdue",
    "past deadline",
    "on hold",
    "completed",
    "cancelled",
)


def demo_loaded() -> str | None:
    """Why the demo data counts as loaded already, or None."""
    User = get_user_model()
    usernames = [p.username for p in demo.PARTICIPANTS] + [demo.INVESTOR_USERNAME]
    taken = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    if taken:
        first = next(username for username in usernames if username in taken)
        return f"the participant login {first!r} exists"
    if Payment.objects.filter(reference__startswith=demo.REFERENCE_PREFIX).exists():
        return f"payments with {demo.REFERENCE_PREFIX}… references exist"
    return None


def load_portfolio(portfolio: demo.Portfolio) -> dict[int, str]:
    """Write the portfolio through the services, as an admin would have over the years.
    Returns each plan's scenario by plan id."""
    packages, admin = _load_catalogue(portfolio)
    investors = _load_investors(portfolio)
    today = portfolio.today
    references = (f"{demo.REFERENCE_PREFIX}{n:06d}" for n in itertools.count(1))

    def pay(plan: Plan, payments: list[demo.PaymentSpec]) -> None:
        for payment in payments:
            payment_record(
                plan=plan,
                amount=payment.amount,
                received_on=payment.received_on,
                reference=next(references),
                today=today,
                actor=admin,
            )

    plans = []
    for spec in portfolio.plans:
        plan = plan_create(
            investor=investors[spec.investor],
            package=packages[spec.package],
            first_due_date=spec.first_due_date,
            today=spec.purchased_on,
            actor=admin,
        )
        pay(plan, spec.payments)
        if spec.hold:
            until, reason = spec.hold
            plan_hold(plan=plan, until=until, reason=reason, today=today, actor=admin)
        plans.append((plan, spec))
    # The nightly scans of the past, each the night after a grace deadline that passed unpaid
    # (holds are in place first: a held plan was never the scan's to cancel).
    with _quiet("installments.services"):
        for scan_date in portfolio.scan_dates:
            plans_cancel_expired(scan_date=scan_date)
    for plan, spec in plans:
        pay(plan, spec.late_payments)  # received in time, recorded after the cancellation
        if spec.restore_reason:
            plan_restore(plan=plan, reason=spec.restore_reason, today=today, actor=admin)
            pay(plan, spec.after_restore)
    return {plan.pk: spec.scenario for plan, spec in plans}


def _load_catalogue(portfolio: demo.Portfolio) -> tuple[dict[str, Package], object | None]:
    """The stages, packages and promotions, and the demo admin (None when that login exists
    already: then the history is written without an actor)."""
    for stage in portfolio.stages:
        PurchaseStage.objects.get_or_create(
            starts_on=stage.starts_on,
            defaults={"name": stage.name, "share_price": stage.share_price},
        )
    packages = {p.name: Package.objects.create(**vars(p)) for p in demo.PACKAGES}
    for promotion in portfolio.promotions:
        Promotion.objects.create(**vars(promotion))
    User = get_user_model()
    admin = None
    if not User.objects.filter(username=demo.ADMIN_USERNAME).exists():
        admin = User.objects.create_superuser(
            demo.ADMIN_USERNAME, demo.ADMIN_EMAIL, demo.ADMIN_PASSWORD
        )
    return packages, admin


def load_investor_side(today: dt.date) -> Investor | None:
    """The demo investor's login (a direct client of the demo participant, overdue with a
    few days left) and a few open help requests in that structure. Returns the investor."""
    root = Investor.objects.filter(user__username=demo.DEMO_PARTICIPANT).first()
    if root is None:
        return None
    clients = investors_with_overdue(
        Investor.objects.in_structure_of(root).filter(depth=root.depth + 1), today=today
    )
    chosen = (
        clients.filter(overdue=True, days_left__gte=1, days_left__lte=10)
        .order_by("days_left", "id")
        .first()
    )
    if chosen is not None:
        investor_grant_login(
            investor=chosen, username=demo.INVESTOR_USERNAME, password=demo.INVESTOR_PASSWORD
        )
    asking = (
        Plan.objects.filter(investor__in=Investor.objects.in_structure_of(root), status="active")
        .exclude(investor=chosen)
        .order_by("oldest_unpaid_due_date", "id")
    )
    picks = [asking.filter(oldest_unpaid_due_date__lt=today).first(), asking.last()]
    picks.append(asking.filter(oldest_unpaid_due_date__gte=today).first())
    for plan, (message, contact_via) in zip(picks, demo.HELP_MESSAGES, strict=True):
        if plan is not None:
            help_request_ask(
                investor=plan.investor,
                plan=plan,
                today=today,
                message=message,
                contact_via=contact_via,
            )
    return chosen


def _load_investors(portfolio: demo.Portfolio) -> dict[int, Investor]:
    """The participants' trees, sponsors before their clients, and the participants' logins."""
    investors: dict[int, Investor] = {}
    for person in portfolio.investors:
        investors[person.key] = investor_create(
            name=person.name,
            sponsor=investors[person.sponsor] if person.sponsor else None,
            phone=person.phone,
            email=person.email,
            messenger=person.messenger,
            language=person.language,
        )
        if person.username:
            participant_grant_login(
                investor=investors[person.key],
                username=person.username,
                password=demo.PARTICIPANT_PASSWORD,
            )
    return investors


@contextlib.contextmanager
def _quiet(logger_name: str):
    """The history's past scans each log a line at INFO; the report says what matters."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def demo_reset() -> int:
    """Delete the demo participants' structures with their plans, the demo logins and the
    demo catalogue no plan uses any more. Returns how many investors were deleted."""
    in_structures = models.Q(pk__in=[])
    roots = Investor.objects.filter(user__username__in=[p.username for p in demo.PARTICIPANTS])
    for root in roots:
        in_structures |= models.Q(path__gte=root.path, path__lt=root.path + PATH_END)
    investors = Investor.objects.filter(in_structures)
    plans = Plan.objects.filter(investor__in=investors)
    # Their reminders (help-request notices, a scan's) protect the investors they went to.
    Reminder.objects.filter(recipient__in=investors).delete()
    ScanRun.objects.filter(trigger=TRIGGER).delete()
    # Children before parents: the ledger and the payments protect what they point at. The
    # investors go next, so their read model needs no refresh.
    with plans_changing():
        ShareLedgerEntry.objects.filter(plan__in=plans).delete()
        Payment.objects.filter(plan__in=plans).delete()
        plans.delete()
    deleted = 0
    for depth in sorted(set(investors.values_list("depth", flat=True)), reverse=True):
        # Deepest first: a sponsor is protected while a client points at it.
        deleted += investors.filter(depth=depth).delete()[1].get("clients.Investor", 0)
    User = get_user_model()
    User.objects.filter(
        username__in=[p.username for p in demo.PARTICIPANTS] + [demo.INVESTOR_USERNAME]
    ).delete()
    User.objects.filter(username=demo.ADMIN_USERNAME, email=demo.ADMIN_EMAIL).delete()
    seasonal = models.Q(name__startswith=demo.PROMOTION_NAMES[-1])
    Promotion.objects.filter(
        models.Q(name__in=demo.PROMOTION_NAMES) | seasonal, credits__isnull=True
    ).delete()
    Package.objects.filter(name__in=[p.name for p in demo.PACKAGES], plans__isnull=True).delete()
    PurchaseStage.objects.filter(
        name__in=[name for name, *_ in demo.STAGES], plans__isnull=True
    ).delete()
    return deleted


def plan_state(plan: dict, today: dt.date) -> str:
    """One word for where an annotated plan stands today (the report's row)."""
    if plan["status"] != PlanStatus.ACTIVE:
        return plan["status"]
    if plan["hold_until"] and plan["hold_until"] >= today:
        return "on hold"
    if plan["overdue"]:
        return "past deadline" if plan["days_left"] < 0 else "overdue"
    if plan["oldest_unpaid_due_date"] <= today + dt.timedelta(days=3):
        return "due in 0-3 days"
    return "on track"


def portfolio_summary(today: dt.date) -> dict:
    """What is in the database now, read back through the overdue read model."""
    states = dict.fromkeys(PLAN_STATES, 0)
    days_left = set()
    for plan in Plan.objects.with_overdue(today).values(
        "status", "overdue", "days_left", "hold_until", "oldest_unpaid_due_date"
    ):
        state = plan_state(plan, today)
        states[state] += 1
        if state in ("overdue", "past deadline"):
            days_left.add(plan["days_left"])
    payments = Payment.objects.aggregate(count=models.Count("id"), total=models.Sum("amount"))
    summary = {
        "investors": Investor.objects.count(),
        "participants": Investor.objects.participants().count(),
        "plans": states,
        "days_left": sorted(days_left),
        "partly_paid": Installment.objects.unpaid().filter(paid_amount__gt=0).count(),
        "bonuses": ShareLedgerEntry.objects.filter(kind__in=BONUS_KINDS).count(),
        "restored": PlanEvent.objects.filter(
            kind__in=[PlanEventKind.RESTORED, PlanEventKind.AUTO_RESTORED]
        ).count(),
        "payments": payments["count"],
        # SQLite sums decimals as floats: back to cents for the report.
        "paid": Decimal(payments["total"] or 0).quantize(Decimal("0.01")),
        "structure": None,
    }
    root = Investor.objects.filter(user__username=demo.DEMO_PARTICIPANT).first()
    if root is not None:
        structure = Investor.objects.in_structure_of(root)
        overdue = investors_with_overdue(structure, today=today).filter(overdue=True)
        deepest = structure.aggregate(deepest=models.Max("depth"))["deepest"] or root.depth
        summary["structure"] = {
            "investors": structure.count(),
            "levels": deepest - root.depth,
            "overdue": overdue.count(),
            "days_left": sorted(set(overdue.values_list("days_left", flat=True))),
        }
    return summary


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _span(values: list[int]) -> str:
    return f"{values[0]}..{values[-1]}, {len(values)} different" if values else "none"


class Command(BaseCommand):
    help = (
        "Load a realistic demo portfolio (investors in India and Nepal under three "
        "participants, plans in every state, payments, bonuses) through the services, and "
        "the participants' contact log of the last weeks. "
        "Does nothing if the demo data is already there."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--investors",
            type=int,
            default=400,
            help="How many investors under the three participants (default 400).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=2026,
            help="Random seed: the same seed on the same day gives the same data.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the demo data (participants' structures, plans, demo logins) first.",
        )

    def handle(self, *args, investors: int, seed: int, reset: bool, **options):
        if not 1 <= investors <= MAX_INVESTORS:
            raise CommandError(
                f"--investors must be a whole number from 1 to {MAX_INVESTORS:,}, not {investors}."
            )
        started = time.monotonic()
        today = business_today()
        try:
            with transaction.atomic():
                if reset:
                    deleted = demo_reset()
                    self.stdout.write(f"Deleted the demo data ({deleted} investors).")
                loaded = demo_loaded()
                if loaded:
                    self.stdout.write(
                        f"Demo data is already loaded ({loaded}); nothing was changed. "
                        "Run with --reset to load it afresh."
                    )
                    self._logins()
                    return
                portfolio = demo.build_portfolio(seed=seed, investors=investors, today=today)
                load_portfolio(portfolio)
                load_investor_side(today)
                demo_contacts(seed=seed, today=today)
        except DomainError as error:
            # Something in the database contradicts the demo (a username taken by someone
            # else...): the transaction rolled back, nothing was written.
            raise CommandError(f"The demo data could not be loaded: {error.message}") from None
        except ProtectedError as error:
            # --reset met rows outside the demo that point at demo plans or investors.
            raise CommandError(f"The demo data could not be deleted: {error.args[0]}") from None
        # Once the portfolio is committed: the scan's chunks and snapshots run after commits.
        night = demo_history(today=today)
        elapsed = time.monotonic() - started
        self._report(portfolio_summary(today), today=today, seed=seed, elapsed=elapsed)
        run = ScanRun.objects.get(pk=night.run.pk)
        self.stdout.write(
            f"  Last night:   the scan of {run.scan_date} cancelled "
            f"{_count(run.plans_cancelled, 'plan')} and queued "
            f"{_count(run.reminders_queued, 'reminder')} (admin home: the morning page)"
        )
        self.stdout.write(f"  Contact log:  {log_summary(today)} (the dashboard, investor pages)")
        self._logins()

    def _report(self, summary: dict, *, today: dt.date, seed: int, elapsed: float) -> None:
        write = self.stdout.write
        write(
            self.style.SUCCESS(
                f"Demo data loaded in {elapsed:.1f} s (seed {seed}, today {today} "
                f"in {settings.BUSINESS_TIME_ZONE})."
            )
        )
        plans = summary["plans"]
        write(f"  Investors:    {summary['investors']} ({summary['participants']} participants)")
        write(f"  Plans:        {sum(plans.values())}")
        for state in PLAN_STATES:
            write(f"    {state:<18}{plans[state]:>5}")
        write(f"  Days left:    {_span(summary['days_left'])} (overdue plans not on hold)")
        if plans["past deadline"]:
            write(
                f"                {plans['past deadline']} past their deadline since yesterday: "
                "the scan of today's date cancels them (`manage.py scan_overdue` runs it now)"
            )
        write(f"  Payments:     {summary['payments']} ({summary['paid']:,} {settings.CURRENCY})")
        write(f"  Partly paid:  {_count(summary['partly_paid'], 'installment')}")
        write(f"  Bonuses:      {_count(summary['bonuses'], 'share ledger credit')}")
        write(f"  Restored:     {_count(summary['restored'], 'plan')}")
        structure = summary["structure"]
        if structure:
            write(
                f"  {demo.DEMO_PARTICIPANT}'s structure: "
                f"{_count(structure['investors'], 'investor')} on "
                f"{_count(structure['levels'], 'level')}, "
                f"{_count(structure['overdue'], 'overdue client')} "
                f"(days left {_span(structure['days_left'])})"
            )

    def _logins(self) -> None:
        others = ", ".join(p.username for p in demo.PARTICIPANTS[1:])
        # `make demo` serves on PORT (default 8000) right after loading.
        site = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        self.stdout.write(
            f"\n  Admin:        {site}/admin/  user {demo.ADMIN_USERNAME} / "
            f"password {demo.ADMIN_PASSWORD}\n"
            f"  Participant:  {site}/structure/  user {demo.DEMO_PARTICIPANT} / "
            f"password {demo.PARTICIPANT_PASSWORD} (also {others})"
        )
        investor = Investor.objects.filter(login__username=demo.INVESTOR_USERNAME).first()
        if investor is not None:
            self.stdout.write(
                f"  Investor:     {site}/me/  user {demo.INVESTOR_USERNAME} / "
                f"password {demo.INVESTOR_PASSWORD} ({investor.name}, "
                f"a client of {demo.DEMO_PARTICIPANT})"
            )
