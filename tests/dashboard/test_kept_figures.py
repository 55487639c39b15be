"""The dashboard's figures kept per investor (`dashboard.kept`): kept for the day after the
night's scan, emptied by every plan write in the write's own transaction, kept again by the
periodic refresh, read for a later day only once a refresh has checked every row for it
(rewriting only the rows whose figures moved), never under other thresholds. That the
dashboard's sums equal a fresh computation whichever rows are kept is `test_dashboard_api`'s
`test_every_figure_equals_a_fresh_computation_from_plans_and_payments`."""

import datetime as dt
from decimal import Decimal

import pytest
import time_machine
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from clients.models import Investor
from dashboard import figures as dashboard_figures
from dashboard import kept
from dashboard.figures import client_counts, figures
from dashboard.models import KeptFiguresCheck
from dashboard.tasks import kept_figures_refresh
from installments.services import payment_record
from reminders.scan import scan
from tests.factories import InvestorFactory, make_plan, participant

pytestmark = pytest.mark.django_db

D = dt.date(2025, 3, 10)
DAY = dt.timedelta(days=1)


def _at(day: dt.date, hour: int = 12):
    return time_machine.travel(
        dt.datetime.combine(day, dt.time(hour), settings.BUSINESS_TIME_ZONE), tick=False
    )


@pytest.fixture
def book():
    root = participant("priya")
    late = InvestorFactory(sponsor=root)
    on_time = InvestorFactory(sponsor=root)
    make_plan(investor=late, first_due_date=D - 10 * DAY, today=D - 40 * DAY)
    make_plan(investor=on_time, first_due_date=D + 5 * DAY, today=D - 40 * DAY)
    return root, late, on_time


def _stamps() -> dict[int, int | None]:
    return dict(Investor.objects.values_list("pk", "kept_figures_stamp"))


def _kept_for(day: dt.date) -> set[int]:
    return set(Investor.objects.filter(kept.is_kept(day)).values_list("pk", flat=True))


def _days() -> dict[int, dt.date | None]:
    return dict(Investor.objects.values_list("pk", "kept_figures_day"))


def _kept_row(investor: Investor) -> kept.InvestorFigures:
    row = Investor.objects.values(*kept.COLUMNS).get(pk=investor.pk)
    return kept.InvestorFigures(**{kept.COLUMNS[column]: value for column, value in row.items()})


def test_the_nights_scan_keeps_the_days_figures_on_every_investor(
    book, django_capture_on_commit_callbacks
):
    _, late, _ = book
    now = dt.datetime.combine(D, dt.time(2), settings.BUSINESS_TIME_ZONE)
    with _at(D, 2), django_capture_on_commit_callbacks(execute=True):
        scan(scan_date=D, now=now)

    assert set(_stamps().values()) == {kept.stamp()}
    assert _kept_for(D) == set(Investor.objects.values_list("pk", flat=True))
    # Each kept row is the investor's part computed afresh.
    fresh = kept.investor_figures(Investor.objects.values("pk"), D)
    for investor in Investor.objects.all():
        assert _kept_row(investor) == fresh.get(investor.pk, kept.NONE)
    assert fresh[late.pk].fell == 1 and fresh[late.pk].fell_due == D - 10 * DAY
    assert fresh[late.pk].segment == "new"


def test_a_payment_empties_its_investors_stamp_and_the_refresh_keeps_that_row_again(book):
    root, late, on_time = book
    with _at(D):
        assert kept_figures_refresh() == 3
        plan = late.plans.get()
        payment_record(plan=plan, amount=Decimal("300.00"), received_on=D, reference="r1", today=D)

        stamps = _stamps()
        assert stamps[late.pk] is None
        assert stamps[on_time.pk] == stamps[root.pk] == kept.stamp()
        assert _kept_for(D) == {on_time.pk, root.pk}
        # Until the refresh, the dashboard computes the emptied row afresh.
        assert figures(root=root, today=D).recovered_in_grace_30d == Decimal("300.00")
        assert kept_figures_refresh() == 1
        assert kept_figures_refresh() == 0
        assert _kept_row(late).recovered == Decimal("300.00")
        assert figures(root=root, today=D).recovered_in_grace_30d == Decimal("300.00")


def test_rows_kept_for_another_day_or_other_thresholds_are_computed_afresh(book):
    root, _, _ = book
    with _at(D):
        kept_figures_refresh()
    # 95 days on, the clients' only activity (their purchase, 40 days before D) is no longer
    # recent: the rows kept for D said "new".
    later = D + 95 * DAY
    with _at(later):
        assert figures(root=root, today=later).segments["one_time"] == 2
        kept_figures_refresh()
    # An admin widens "recent" to 200 days: the rows kept under 90 are not read.
    with override_settings(ACTIVITY_RECENT_DAYS=200), _at(later):
        assert kept.stamp() not in set(_stamps().values())
        assert not _kept_for(later)
        assert figures(root=root, today=later).segments["new"] == 2


def test_a_refresh_delivered_late_keeps_the_day_it_runs_on(book):
    with _at(D + 2 * DAY):
        kept_figures_refresh()
    assert set(_stamps().values()) == {kept.stamp()}
    assert set(_days().values()) == {D + 2 * DAY}


def test_the_refresh_is_scheduled_every_ten_minutes():
    task = PeriodicTask.objects.get(task="dashboard.kept_figures_refresh")
    assert (task.interval.every, task.interval.period, task.enabled) == (10, "minutes", True)


def _not_kept(root: Investor, day: dt.date) -> int:
    return client_counts(Investor.objects.in_structure_of(root), today=day)["not_kept"]


def _afresh(root: Investor, day: dt.date):
    """The figures with nothing kept, in a transaction rolled back."""
    with transaction.atomic():
        Investor.objects.update(kept_figures_stamp=None)
        answer = figures(root=root, today=day)
        transaction.set_rollback(True)
    return answer


def test_a_new_day_reads_nothing_kept_until_its_refresh(book):
    root, _, _ = book
    with _at(D):
        kept_figures_refresh()
        assert _not_kept(root, D) == 0
    # 25 days on, both clients' latest installment has fallen overdue.
    later = D + 25 * DAY
    with _at(later):
        assert _not_kept(root, later) == 2
        assert figures(root=root, today=later) == _afresh(root, later)
        scope = Investor.objects.in_structure_of(root)
        assert client_counts(scope, today=later)["amounts_not_kept"] == 2
        # The clients' figures moved and are rewritten; the participant's (no plan) did not.
        assert kept_figures_refresh() == 2
        assert _days()[root.pk] == D
        assert _not_kept(root, later) == 0
        # The overdue amounts kept by the read model hold again: the buckets read them.
        assert client_counts(scope, today=later)["amounts_not_kept"] == 0
        assert figures(root=root, today=later) == _afresh(root, later)


def test_a_refresh_cut_short_keeps_only_what_it_wrote(book):
    root, late, _ = book
    with _at(D):
        kept_figures_refresh()
    later = D + 25 * DAY
    with _at(later):
        # The first chunk only, then the worker died: the participant's row, checked and
        # found unchanged, is not kept for the day until a refresh has checked every row.
        kept._keep(root.pk, late.pk, later, kept.stamp())
        assert _kept_for(later) == {late.pk}
        assert figures(root=root, today=later) == _afresh(root, later)
        assert kept_figures_refresh() == 1
        assert len(_kept_for(later)) == 3
        # A payment after the refresh empties the row again.
        plan = late.plans.get()
        payment_record(
            plan=plan, amount=Decimal("300.00"), received_on=later, reference="r2", today=later
        )
        assert not Investor.objects.filter(kept.is_kept(later), pk=late.pk).exists()
        assert figures(root=root, today=later) == _afresh(root, later)


def test_a_deploy_that_changes_the_definitions_reads_nothing_kept(book, monkeypatch):
    root, _, _ = book
    with _at(D):
        kept_figures_refresh()
        assert _not_kept(root, D) == 0
        monkeypatch.setattr(kept, "DEFINITIONS", kept.DEFINITIONS + 1)
        assert _not_kept(root, D) == 2


def test_a_day_with_nothing_moved_rewrites_no_row_and_reads_every_row_as_kept(book):
    root, late, on_time = book
    with _at(D):
        assert kept_figures_refresh() == 3
    with _at(D + DAY):
        assert not _kept_for(D + DAY)
        assert kept_figures_refresh() == 0
        assert set(_days().values()) == {D}
        assert _kept_for(D + DAY) == {root.pk, late.pk, on_time.pk}
        assert figures(root=root, today=D + DAY) == _afresh(root, D + DAY)
        # Checked for D + 1 does not make the rows kept for any other day.
        assert not _kept_for(D + 2 * DAY)


def test_a_refresh_for_a_day_before_one_checked_writes_nothing(book):
    _, late, _ = book
    with _at(D + DAY):
        kept_figures_refresh()
    Investor.objects.filter(pk=late.pk).update(kept_figures_stamp=None)
    # A message for D delivered after D + 1 was checked: writing the row for D would leave
    # it read as D + 1's.
    with _at(D):
        assert kept_figures_refresh() == 0
    assert _stamps()[late.pk] is None
    with _at(D + DAY):
        assert kept_figures_refresh() == 1
        assert _days()[late.pk] == D + DAY


def test_rows_not_kept_read_by_id_or_by_the_structures_condition_give_the_same_figures(
    book, monkeypatch
):
    root, late, _ = book
    plan = late.plans.get()
    owed = sum(i.unpaid for i in plan.installments.filter(due_date__lt=D))
    with _at(D):
        payment_record(plan=plan, amount=owed, received_on=D, reference="r", today=D)
        kept_figures_refresh()
    # Emptied behind the refresh's back: the row still stores what it kept (the money
    # recovered, one plan fell overdue and was cured), which the sums over every stored row
    # must take away.
    assert (_kept_row(late).recovered, _kept_row(late).cured) == (owed, 1)
    Investor.objects.filter(pk=late.pk).update(kept_figures_stamp=None)
    later = D + 25 * DAY
    with _at(later):
        for day in (D, later):  # only emptied rows; then rows of an unchecked day too
            listed = figures(root=root, today=day)
            monkeypatch.setattr(dashboard_figures, "LISTED_MAX", 0)
            assert figures(root=root, today=day) == listed == _afresh(root, day)
            monkeypatch.undo()


def test_a_refresh_stops_once_a_refresh_for_a_later_day_has_started(book, monkeypatch):
    root, _, _ = book
    computed = kept.investor_figures

    def next_day_starts(ids, today):
        # While this run computes its first chunk, the next day's run starts.
        KeptFiguresCheck.objects.get_or_create(day=D + DAY, stamp=kept.stamp())
        return computed(ids, today)

    monkeypatch.setattr(kept, "investor_figures", next_day_starts)
    with _at(D):
        assert kept.kept_figures_refresh(today=D, chunk=1) == 1  # the first chunk, then stops
    assert _kept_for(D) == {root.pk}
    assert not KeptFiguresCheck.objects.filter(day=D, checked_at__isnull=False).exists()


def test_a_check_recorded_while_a_chunk_computes_leaves_its_rows_their_figures(book, monkeypatch):
    _, late, _ = book
    with _at(D):
        kept_figures_refresh()
    later = D + 25 * DAY
    computed = kept.investor_figures

    def another_run_records_its_check(ids, today):
        # A run for the same day, ahead of this one, records its check mid-chunk.
        KeptFiguresCheck.objects.update_or_create(
            day=today, stamp=kept.stamp(), defaults={"checked_at": timezone.now()}
        )
        return computed(ids, today)

    monkeypatch.setattr(kept, "investor_figures", another_run_records_its_check)
    with _at(later):
        kept.kept_figures_refresh(today=later)
    monkeypatch.undo()
    assert _kept_row(late) == kept.investor_figures(Investor.objects.values("pk"), later)[late.pk]


def test_no_refresh_for_a_day_after_tomorrow(book):
    with _at(D):
        assert kept.kept_figures_refresh(today=D + 2 * DAY) == 0
    assert not KeptFiguresCheck.objects.exists()
    assert set(_stamps().values()) == {None}
