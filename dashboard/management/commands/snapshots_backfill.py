from django.core.management.base import BaseCommand, CommandError

from backoffice.lib.dates import business_today, parse_iso_date
from dashboard.snapshots import snapshots_backfill


class Command(BaseCommand):
    help = (
        "Write the daily snapshots of past days that have none (each month's last day and "
        "the last 30 days), as far as the data allows. Running it again writes nothing new."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", help="The first day (YYYY-MM-DD); default: the first purchase."
        )

    def handle(self, *args, **options):
        try:
            first = parse_iso_date(options["since"]) if options["since"] else None
        except ValueError as error:
            raise CommandError(str(error)) from error
        written = snapshots_backfill(today=business_today(), first=first)
        self.stdout.write(f"{written} snapshot(s) written.")
