"""The Structure's pages read through `StructureListing` are exactly the rows, in exactly the
order, of the one query that computes every value for every row (`StructureFilter.qs`), for
every ordering and every page: also when "most urgent first" is assembled from the promises,
the grace-deadline index and a window of days left (large structures)."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.utils import timezone

from installments.services import payment_record, plan_hold
from structure import listing as structure_listing
from structure.filters import ORDERINGS, StructureFilter
from structure.help import help_request_ask
from structure.models import ContactLogEntry
from tests.factories import InvestorFactory, make_plan

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 3, 15)
FIELDS = (
    "pk",
    "urgency",
    "days_left",
    "overdue_amount",
    "grace_deadline",
    "oldest_overdue_due_date",
    "status",
    "promise_state",
)


class Request:
    def __init__(self, user):
        self.user = user


def values(row) -> tuple:
    return tuple(getattr(row, name) for name in FIELDS)


@pytest.fixture
def crowd(structure):
    """Forty clients with many ties in days left, different amounts, promises broken,
    pending and kept, overdue plans held past the 19-day horizon, and help requests from
    clients overdue and not."""
    rng = random.Random(7)
    root = structure.root
    for number in range(40):
        investor = InvestorFactory(name=f"Client {number % 13:02d}", sponsor=root)
        plan = make_plan(
            investor=investor,
            first_due_date=dt.date(2026, 2, 20) + dt.timedelta(days=rng.randint(0, 30)),
            today=dt.date(2026, 1, 1),
            price=Decimal("1200.00"),
            installment_count=rng.choice([3, 6]),
        )
        if number % 3 == 0:
            payment_record(
                plan=plan,
                amount=Decimal(rng.choice(["50.00", "120.00"])),
                received_on=dt.date(2026, 3, 1),
                reference=f"crowd-{number}",
                today=TODAY,
            )
        if number % 7 == 0:
            plan_hold(plan=plan, until=dt.date(2026, 5, 1), reason="travel", today=TODAY)
        if number % 5 == 0:
            # Written directly: some promises fall after the grace deadline, which the
            # service now refuses, and older rows may hold.
            ContactLogEntry.objects.create(
                investor=investor,
                author=root.user,
                contacted_at=timezone.now(),
                outcome="promised",
                contacted_on=dt.date(2026, 3, 1) if number % 10 else TODAY,
                promised_on=dt.date(2026, 3, 5) if number % 10 else dt.date(2026, 3, 20),
                promised_amount=Decimal("100.00"),
            )
        if number % 6 == 1:
            help_request_ask(investor=investor, plan=plan, today=TODAY, message="Call me")
    return structure


@pytest.mark.parametrize("walk_from", [0, 10_000])
@pytest.mark.parametrize("ordering", list(ORDERINGS))
@pytest.mark.parametrize("overdue", ["", "true", "false"])
def test_every_page_of_the_listing_equals_the_same_slice_of_the_full_query(
    crowd, monkeypatch, ordering, overdue, walk_from
):
    monkeypatch.setattr(structure_listing, "URGENCY_WALK_FROM", walk_from)
    data = {"ordering": ordering, "overdue": overdue}
    full = StructureFilter(data, request=Request(crowd.root.user), today=TODAY)
    assert full.is_valid(), full.errors
    expected = [values(row) for row in full.qs]
    listing = StructureFilter(data, request=Request(crowd.root.user), today=TODAY)
    assert listing.is_valid()
    rows = listing.listing()
    assert rows.count() == len(expected)
    for size in (1, 7, 20):
        for start in range(0, len(expected), size):
            assert [values(row) for row in rows[start : start + size]] == expected[
                start : start + size
            ], (ordering, overdue, size, start)


def test_the_crowd_has_help_requests_broken_and_pending_promises_and_held_overdue_plans(crowd):
    full = StructureFilter({}, request=Request(crowd.root.user), today=TODAY)
    assert full.is_valid()
    rows = list(full.qs)
    assert {-1, 0, 1, 2, 3} <= {row.urgency for row in rows}
    assert {row.overdue for row in rows if row.urgency == -1} == {True, False}
    assert any(row.overdue and row.days_left >= 19 for row in rows)


@pytest.mark.parametrize("ordering", ["urgency", "name"])
def test_the_api_row_is_what_drf_writes_of_the_same_fields(crowd, ordering):
    """`StructureRowSerializer.to_representation` writes each row without DRF's per-field
    calls: for every row of a crowd (held, promised, paid, asked for help, contacted or not)
    it equals DRF's own representation of the serializer's declared fields."""
    from rest_framework import serializers

    from structure.api import StructureRowSerializer

    listing = StructureFilter({"ordering": ordering}, request=Request(crowd.root.user), today=TODAY)
    assert listing.is_valid()
    rows = list(listing.listing()[0:1000])
    assert len(rows) > 30
    serializer = StructureRowSerializer()
    for row in rows:
        fast = serializer.to_representation(row)
        generic = serializers.Serializer.to_representation(serializer, row)
        assert fast == dict(generic), row.pk
        assert [type(v) for v in fast.values()] == [type(v) for v in generic.values()]
    assert {row.overdue for row in rows} == {True, False}
    assert any(row.contact_outcome for row in rows) and any(not r.contact_outcome for r in rows)


def test_each_filter_form_reads_its_own_participants_and_keeps_its_own_errors(structure):
    """The filter form's fields are shared between forms, but for the participants' choice:
    each form has its own queryset, so rows one form read are never another's cache."""
    request = Request(structure.root.user)
    refused = StructureFilter({"overdue": "maybe"}, request=request, today=TODAY).form
    chosen = StructureFilter({"overdue": "true"}, request=request, today=TODAY).form
    assert refused.fields["participant"].queryset is not chosen.fields["participant"].queryset
    assert list(refused.fields["participant"].queryset)
    assert chosen.fields["participant"].queryset._result_cache is None
    assert "overdue" in refused.errors
    assert chosen.is_valid(), chosen.errors
    assert chosen.root == structure.root


def test_fields_copied_per_form_share_simple_fields_widgets_and_copy_the_rest_deep():
    import copy

    from django import forms

    from clients.models import Investor
    from structure.filters import FieldsCopiedPerForm

    base = FieldsCopiedPerForm(
        simple=forms.IntegerField(),
        model=forms.ModelChoiceField(queryset=Investor.objects.all()),
        multi=forms.SplitDateTimeField(),
    )
    copied = copy.deepcopy(base)
    assert copied["simple"] is not base["simple"]
    assert copied["simple"].widget is base["simple"].widget
    assert copied["model"].widget is not base["model"].widget
    assert copied["model"].queryset is not base["model"].queryset
    assert copied["multi"].widget.widgets[0] is not base["multi"].widget.widgets[0]
