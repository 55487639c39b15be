"""`manage.py bench_reminders`: how fast the scan queues and the workers deliver.

A one-off measurement on a scratch database (never production data):

    createdb backoffice_bench
    export DATABASE_URL=postgres://…/backoffice_bench CELERY_BROKER_URL=redis://…/3 \\
           EMAIL_BACKEND=django.core.mail.backends.dummy.EmailBackend \\
           SMS_BACKEND=reminders.channels.LocmemBackend SECRET_KEY=bench
    manage.py migrate && manage.py bench_reminders --build 10000
    celery -A backoffice worker --pool=solo -n w1@%h &        # one worker (then two)
    manage.py bench_reminders --run

`--build N` adds N plans whose first installment fell due yesterday (one reminder each by
email: today is their "overdue" day), under 10 participants. `--run` forgets earlier
reminders and scan runs, runs the scan as beat would (chunks fanned out to the workers), and
reports the seconds until every row is queued (rows inserted and their messages published)
and until every reminder is sent.
"""

import datetime as dt
import time
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from backoffice.lib.dates import business_today
from clients.models import Investor, path_step
from installments import rules
from installments.models import Installment, Package, Plan, PurchaseStage
from installments.read_model import investor_overdue_refresh_all
from reminders.models import Reminder, ReminderStatus, ScanChunk, ScanRun
from reminders.scan import scan

PREFIX = "Bench "


class Command(BaseCommand):
    help = "Measure queueing and delivery of reminders for many overdue plans (scratch DB)."

    def add_arguments(self, parser):
        parser.add_argument("--build", type=int, metavar="N", help="Add N overdue plans.")
        parser.add_argument("--run", action="store_true", help="Scan and time it.")
        parser.add_argument("--timeout", type=int, default=900)

    def handle(self, *args, build=None, run=False, timeout=900, **options):
        if not build and not run:
            raise CommandError("Give --build N and/or --run.")
        today = business_today()
        if build:
            self._build(build, today)
        if run:
            self._run(today, timeout)

    @transaction.atomic
    def _build(self, count: int, today: dt.date) -> None:
        stage, _ = PurchaseStage.objects.get_or_create(
            starts_on=dt.date(2000, 1, 1), defaults={"name": "Bench", "share_price": 1}
        )
        package = Package.objects.create(
            name=f"{PREFIX}{count}", shares=300, price=Decimal("300.00"), installment_count=3
        )
        clients = self._clients(count)
        due = today - dt.timedelta(days=1)
        plans = [
            Plan(
                investor=client,
                package=package,
                stage=stage,
                share_price=stage.share_price,
                shares=300,
                price=Decimal("300.00"),
                final_payment_fraction=rules.DEFAULT_FINAL_PAYMENT_FRACTION,
                purchased_on=due - dt.timedelta(days=30),
                first_due_date=due,
                oldest_unpaid_due_date=due,
            )
            for client in clients
        ]
        Plan.objects.bulk_create(plans, batch_size=2000)
        Installment.objects.bulk_create(
            (
                Installment(
                    plan=plan,
                    number=n,
                    due_date=due + dt.timedelta(days=31 * (n - 1)),
                    amount=Decimal("100.00"),
                )
                for plan in Plan.objects.filter(package=package)
                for n in (1, 2, 3)
            ),
            batch_size=5000,
        )
        # Bulk-built plans bypass the services: bring the Structure's read model up to date.
        investor_overdue_refresh_all()
        self.stdout.write(f"Built {len(clients)} overdue plans under ten participants.")

    def _clients(self, count: int) -> list[Investor]:
        """Ten participants with `count` direct clients between them, bulk-built."""
        User = get_user_model()
        start = Investor.objects.count()
        tops = [Investor(name=f"{PREFIX}participant {start + k}") for k in range(10)]
        Investor.objects.bulk_create(tops)
        tops = list(Investor.objects.filter(name__startswith=PREFIX, path__isnull=True))
        for top in tops:
            top.path = path_step(top.pk)
            top.user = User.objects.create(username=f"bench{top.pk}")
        Investor.objects.bulk_update(tops, ["path", "user"])
        clients = [
            Investor(
                name=f"{PREFIX}client {k}",
                sponsor=tops[k % len(tops)],
                depth=2,
                email=f"bench{k}@example.com",
            )
            for k in range(count)
        ]
        Investor.objects.bulk_create(clients, batch_size=2000)
        clients = list(Investor.objects.filter(name__startswith=PREFIX, path__isnull=True))
        paths = {top.pk: top.path for top in tops}
        for client in clients:
            client.path = paths[client.sponsor_id] + path_step(client.pk)
        Investor.objects.bulk_update(clients, ["path"], batch_size=2000)
        return clients

    def _run(self, today: dt.date, timeout: int) -> None:
        Reminder.objects.all().delete()
        ScanChunk.objects.all().delete()
        ScanRun.objects.all().delete()
        started = time.monotonic()
        report = scan(scan_date=today, now=timezone.now(), trigger="bench")
        run = report.run
        deadline = started + timeout
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.finished_at:
                break
            time.sleep(0.1)
        queued_after = time.monotonic() - started
        rows = Reminder.objects.count()
        open_statuses = [ReminderStatus.PENDING, ReminderStatus.SENDING]
        while time.monotonic() < deadline:
            if not Reminder.objects.filter(status__in=open_statuses).exists():
                break
            time.sleep(0.2)
        delivered_after = time.monotonic() - started
        sent = Reminder.objects.filter(status=ReminderStatus.SENT).count()
        self.stdout.write(
            f"{rows} reminders queued in {queued_after:.1f} s ({rows / queued_after:.0f}/s, "
            f"{run.chunks_total} chunks); {sent} sent after {delivered_after:.1f} s "
            f"({sent / delivered_after:.0f}/s)."
        )
