"""`manage.py scan_overdue [--as-of YYYY-MM-DD] [--dry-run]`: the nightly scan, by hand.

The same code as the beat task (reminders.scan.scan): catch up missed nights, cancel what
ran out of grace, queue the reminders. With no broker configured (the demo) the reminders
are delivered in-process and email is printed to the console.
"""

from collections import Counter

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from backoffice.lib.dates import business_today, parse_iso_date
from reminders.models import Reminder
from reminders.scan import scan


class Command(BaseCommand):
    help = (
        "Cancel every active plan whose grace deadline is before the scan date (not on hold), "
        "queue the reminders, and print what was done. Running it twice for one date changes "
        "nothing the second time."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--as-of",
            metavar="YYYY-MM-DD",
            help="The scan date (default: today in BUSINESS_TIME_ZONE).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would change; change nothing."
        )

    def handle(self, *args, as_of=None, dry_run=False, **options):
        now = timezone.now()
        today = business_today(now)
        if as_of is None:
            scan_date = today
        else:
            try:
                scan_date = parse_iso_date(as_of)
            except ValueError as error:
                raise CommandError(f"--as-of: {error}") from None
        if scan_date > today:
            raise CommandError(
                f"--as-of {scan_date} is in the future (today is {today}): "
                "a scan cannot cancel for a day that has not come."
            )
        report = scan(scan_date=scan_date, now=now, trigger="command", dry_run=dry_run)
        verb = "would cancel" if dry_run else "cancelled"
        for run in report.caught_up:
            self.stdout.write(
                f"Caught up the missed scan of {run.scan_date}: "
                f"{run.plans_cancelled} plan(s) cancelled."
            )
        for c in report.cancellations:
            self.stdout.write(
                f"  plan #{c.plan_id:<8} {c.investor[:32]:<32} overdue {c.overdue_amount:>12}  "
                f"oldest due {c.oldest_unpaid_due_date}  grace deadline {c.grace_deadline}"
            )
        summary = f"Scan of {scan_date}: {verb} {len(report.cancellations)} plan(s)."
        if dry_run:
            summary += (
                f" Would queue {report.reminders} reminder(s)"
                f" ({report.already_queued} more found are in the outbox already)."
                " Dry run: nothing was changed."
            )
        self.stdout.write(self.style.SUCCESS(summary))
        if not dry_run:
            self._reminders(report.run)

    def _reminders(self, run):
        run.refresh_from_db()
        rows = Reminder.objects.filter(scan_run=run)
        by_status = Counter(rows.values_list("status", flat=True))
        if run.finished_at is None:
            self.stdout.write(
                f"Reminders: {run.chunks_total} chunk(s) handed to the workers (scan run "
                f"#{run.pk}); {len(rows)} reminder(s) queued so far."
            )
            return
        detail = ", ".join(f"{count} {status}" for status, count in sorted(by_status.items()))
        self.stdout.write(
            f"Reminders: {run.reminders_queued} queued (scan run #{run.pk})"
            + (f": {detail}." if detail else ".")
        )
        waiting = rows.filter(status="pending").order_by("scheduled_for").first()
        if waiting is not None:
            self.stdout.write(
                f"Pending ones wait for quiet hours to end or for a worker; the first may go "
                f"at {timezone.localtime(waiting.scheduled_for):%Y-%m-%d %H:%M}."
            )
