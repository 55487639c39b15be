"""`manage.py scan_overdue [--as-of YYYY-MM-DD] [--dry-run]`: the nightly scan, by hand."""

from django.core.management.base import BaseCommand, CommandError

from backoffice.lib.dates import business_today, parse_iso_date
from installments.services import plans_cancel_expired


class Command(BaseCommand):
    help = (
        "Cancel every active plan whose grace deadline is before the scan date (not on hold) "
        "and print what was done. Running it twice for one date changes nothing the second time."
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
        today = business_today()
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
        cancellations = plans_cancel_expired(scan_date=scan_date, dry_run=dry_run)
        verb = "would cancel" if dry_run else "cancelled"
        for c in cancellations:
            self.stdout.write(
                f"  plan #{c.plan_id:<8} {c.investor[:32]:<32} overdue {c.overdue_amount:>12}  "
                f"oldest due {c.oldest_unpaid_due_date}  grace deadline {c.grace_deadline}"
            )
        summary = f"Scan of {scan_date}: {verb} {len(cancellations)} plan(s)."
        if dry_run:
            summary += " Dry run: nothing was changed."
        self.stdout.write(self.style.SUCCESS(summary))
