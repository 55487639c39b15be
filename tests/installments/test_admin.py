"""The installments admin: pages render, filters are exact, and every action goes through the
services (form errors on refusal, audit entries with the actor on success)."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.lib.errors import DomainError
from installments.admin.plans import PlanAdmin
from installments.models import (
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
from installments.services import payment_record, plan_add_shares, plans_cancel_expired
from tests.factories import (
    InvestorFactory,
    PackageFactory,
    PromotionFactory,
    StageFactory,
    UserFactory,
    make_plan,
)

pytestmark = [
    pytest.mark.django_db,
]

D = Decimal
TODAY = dt.date(2025, 3, 1)


@pytest.fixture(autouse=True)
def business_day(time_machine):
    """The admin reads "today" from the clock, in the business time zone: noon of TODAY."""
    time_machine.move_to(dt.datetime(2025, 3, 1, 6, 30, tzinfo=dt.UTC), tick=False)
    return TODAY


def url(name, *args):
    return reverse(f"admin:installments_{name}", args=args)


def messages_of(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def form_errors(response):
    return response.context["adminform"].form.errors


def overdue_plan(**kwargs):
    """Its first installment was due on Feb 10, unpaid: overdue on TODAY, saveable to Mar 1."""
    return make_plan(first_due_date=dt.date(2025, 2, 10), **kwargs)


def cancelled_plan():
    """Cancelled by the scan of TODAY. Made before any other plan: the scan cancels them all."""
    plan = make_plan(first_due_date=dt.date(2024, 12, 1))
    plans_cancel_expired(scan_date=TODAY)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED
    return plan


def pay(plan, amount, reference, received_on=TODAY):
    return payment_record(
        plan=plan, amount=amount, received_on=received_on, reference=reference, today=TODAY
    )


# ---------------------------------------------------------------------------- pages render


@pytest.fixture
def portfolio():
    """A row of every kind: stage, package, promotion, plan, payment, credit, audit entry."""
    PromotionFactory(kind="double_payment", percentage=D("2"))
    plan = overdue_plan()
    pay(plan, "600.00", "BANK-1")
    return plan


@pytest.mark.parametrize(
    "model",
    [PurchaseStage, Package, Promotion, Plan, Payment, ShareLedgerEntry, PlanEvent],
    ids=lambda model: model._meta.model_name,
)
def test_every_changelist_and_change_page_renders_with_data(admin_client, portfolio, model):
    obj = model.objects.first()
    name = model._meta.model_name

    listing = admin_client.get(url(f"{name}_changelist"))
    detail = admin_client.get(url(f"{name}_change", obj.pk))

    assert listing.status_code == 200
    assert listing.context["cl"].result_count >= 1
    assert detail.status_code == 200
    assert detail.context["original"] == obj


def test_plan_changelist_shows_overdue_amount_grace_deadline_and_days_left(admin_client):
    plan = overdue_plan()

    response = admin_client.get(url("plan_changelist"))

    (row,) = response.context["cl"].result_list
    assert row == plan
    assert (row.overdue_amount, row.grace_deadline, row.days_left) == (
        D("300.00"),
        dt.date(2025, 3, 1),
        0,
    )
    assert b"2025-03-01" in response.content  # dates are shown ISO


def test_plan_changelist_query_count_does_not_grow_with_the_number_of_plans(admin_client):
    def count_queries():
        with CaptureQueriesContext(connection) as queries:
            response = admin_client.get(url("plan_changelist"))
        assert response.status_code == 200
        return len(queries)

    for _ in range(3):
        overdue_plan()
    with_three = count_queries()
    for _ in range(27):
        overdue_plan()
    with_thirty = count_queries()

    assert Plan.objects.count() == 30
    assert with_thirty == with_three


def test_plan_change_page_shows_the_plan_read_only_with_installments_payments_and_audit(
    admin_client, portfolio
):
    response = admin_client.get(url("plan_change", portfolio.pk))

    assert response.context["adminform"].form.fields == {}  # nothing to edit
    page = response.content.decode()
    assert "#1: 300.00, #2: 300.00" in page  # the payment's allocations
    assert url("plan_record_payment", portfolio.pk) in page
    assert url("plan_hold", portfolio.pk) in page
    assert 'name="_save"' not in page
    inlines = {f.opts.model for f in response.context["inline_admin_formsets"]}
    assert inlines == {Installment, Payment, ShareLedgerEntry, PlanEvent}


# ---------------------------------------------------------------------------- filters, search


def test_overdue_filter_returns_exactly_the_overdue_plans(admin_client):
    cancelled = cancelled_plan()  # overdue money, but past saving: not overdue
    overdue = overdue_plan()
    due_today = make_plan(first_due_date=TODAY)
    future = make_plan(first_due_date=dt.date(2025, 4, 1))
    caught_up = overdue_plan()
    pay(caught_up, "300.00", "CAUGHT-UP")

    yes = admin_client.get(url("plan_changelist"), {"overdue": "yes"})
    no = admin_client.get(url("plan_changelist"), {"overdue": "no"})

    assert set(yes.context["cl"].result_list) == {overdue}
    assert set(no.context["cl"].result_list) == {cancelled, due_today, future, caught_up}


def test_on_hold_filter_returns_the_plans_on_hold(admin_client):
    held, free = overdue_plan(), overdue_plan()
    admin_client.post(
        url("plan_hold", held.pk), {"until": "2025-03-20", "reason": "Travelling abroad"}
    )

    response = admin_client.get(url("plan_changelist"), {"on_hold": "yes"})

    assert list(response.context["cl"].result_list) == [held]
    assert free not in response.context["cl"].result_list


def test_plans_are_found_by_payment_reference_and_investor_contacts(admin_client):
    paid = overdue_plan(investor=InvestorFactory(name="Meera Joshi", phone="+919812345678"))
    pay(paid, "300.00", "UTR-778899")
    overdue_plan()

    by_reference = admin_client.get(url("plan_changelist"), {"q": "UTR-778899"})
    by_phone = admin_client.get(url("plan_changelist"), {"q": "9812345678"})
    by_name = admin_client.get(url("plan_changelist"), {"q": "meera"})

    for response in (by_reference, by_phone, by_name):
        assert list(response.context["cl"].result_list) == [paid]


# ---------------------------------------------------------------------------- record payment


def test_recording_a_payment_through_the_plan_page_posts_it_and_says_what_happened(
    admin_client, admin_user
):
    plan = overdue_plan()

    response = admin_client.post(
        url("plan_record_payment", plan.pk),
        {"amount": "300.00", "received_on": "2025-03-01", "reference": "BANK-7"},
    )

    assert response.status_code == 302
    assert response["Location"] == url("plan_change", plan.pk)
    payment = Payment.objects.get(reference="BANK-7")
    assert (payment.plan, payment.amount, payment.recorded_by) == (plan, D("300.00"), admin_user)
    assert messages_of(response) == [
        f"Payment BANK-7 posted: 300.00 to plan #{plan.pk}; 100 shares credited."
    ]
    event = plan.events.get(kind=PlanEventKind.PAYMENT)
    assert event.actor == admin_user


def test_a_payment_larger_than_the_balance_shows_a_form_error_and_writes_nothing(admin_client):
    plan = overdue_plan()
    events_before = PlanEvent.objects.count()

    response = admin_client.post(
        url("plan_record_payment", plan.pk),
        {"amount": "3000.01", "received_on": "2025-03-01", "reference": "TOO-MUCH"},
    )

    assert response.status_code == 200
    assert "larger than the remaining balance" in form_errors(response)["amount"][0]
    assert not Payment.objects.exists()
    assert not ShareLedgerEntry.objects.exists()
    assert PlanEvent.objects.count() == events_before
    assert not plan.installments.filter(paid_amount__gt=0).exists()


@pytest.mark.parametrize("amount", ["0", "-5.00", "12.345", "abc"])
def test_a_zero_negative_or_malformed_amount_shows_a_form_error(admin_client, amount):
    plan = overdue_plan()

    response = admin_client.post(
        url("plan_record_payment", plan.pk),
        {"amount": amount, "received_on": "2025-03-01", "reference": "BAD"},
    )

    assert response.status_code == 200
    assert "amount" in form_errors(response)
    assert not Payment.objects.exists()


def test_posting_the_same_reference_again_says_it_was_already_recorded(admin_client):
    plan = overdue_plan()
    data = {"amount": "300.00", "received_on": "2025-03-01", "reference": "BANK-9"}
    admin_client.post(url("plan_record_payment", plan.pk), data, follow=True)

    replay = admin_client.post(url("plan_record_payment", plan.pk), data)

    assert replay.status_code == 302
    assert Payment.objects.count() == 1
    (message,) = messages_of(replay)
    assert message.startswith("Payment BANK-9 was already recorded")
    assert "nothing was posted again" in message


def test_a_reference_reused_for_other_money_is_a_form_error_on_the_reference(admin_client):
    plan = overdue_plan()
    pay(plan, "300.00", "BANK-10")

    response = admin_client.post(
        url("plan_record_payment", plan.pk),
        {"amount": "200.00", "received_on": "2025-03-01", "reference": "BANK-10"},
    )

    assert "already used" in form_errors(response)["reference"][0]
    assert Payment.objects.count() == 1


def test_the_payment_that_completes_a_plan_says_so(admin_client):
    plan = make_plan(first_due_date=TODAY, installment_count=1, price=D("1000.00"), shares=900)

    response = admin_client.post(
        url("plan_record_payment", plan.pk),
        {"amount": "1000.00", "received_on": "2025-03-01", "reference": "FULL"},
    )

    plan.refresh_from_db()
    assert plan.status == PlanStatus.COMPLETED
    assert messages_of(response) == [
        f"Payment FULL posted: 1000.00 to plan #{plan.pk}; 900 shares credited; "
        "the plan is paid in full."
    ]


# ---------------------------------------------------------------------------- restore, hold


def test_restore_without_reason_shows_a_form_error_and_keeps_the_plan_cancelled(admin_client):
    plan = cancelled_plan()

    response = admin_client.post(url("plan_restore", plan.pk), {"reason": "  "})

    assert response.status_code == 200
    assert "reason" in form_errors(response)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED
    assert not plan.events.filter(kind=PlanEventKind.RESTORED).exists()


def test_restore_with_a_reason_reactivates_the_plan_and_audits_who_and_why(
    admin_client, admin_user
):
    plan = cancelled_plan()

    response = admin_client.post(
        url("plan_restore", plan.pk), {"reason": "Paid at the branch; receipt 42"}
    )

    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.status == PlanStatus.ACTIVE
    assert plan.grace_extended_to == TODAY + dt.timedelta(days=19)
    event = plan.events.get(kind=PlanEventKind.RESTORED)
    assert (event.actor, event.reason) == (admin_user, "Paid at the branch; receipt 42")
    assert messages_of(response) == [
        f"Plan #{plan.pk} is restored; it cannot be cancelled before 2025-03-20."
    ]


def test_restoring_an_active_plan_is_refused_as_a_form_error(admin_client):
    plan = overdue_plan()

    response = admin_client.post(url("plan_restore", plan.pk), {"reason": "By mistake"})

    assert "not cancelled" in form_errors(response).get("__all__")[0]
    assert not plan.events.filter(kind=PlanEventKind.RESTORED).exists()


def test_hold_puts_the_plan_on_hold_until_the_date_and_audits_it(admin_client, admin_user):
    plan = overdue_plan()

    response = admin_client.post(
        url("plan_hold", plan.pk), {"until": "2025-03-20", "reason": "Hospitalised"}
    )

    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.hold_until, plan.hold_reason) == (dt.date(2025, 3, 20), "Hospitalised")
    event = plan.events.get(kind=PlanEventKind.HOLD)
    assert (event.actor, event.reason) == (admin_user, "Hospitalised")
    assert messages_of(response) == [f"Plan #{plan.pk} is on hold until 2025-03-20."]


def test_a_hold_ending_in_the_past_is_a_form_error_on_the_date(admin_client):
    plan = overdue_plan()

    response = admin_client.post(
        url("plan_hold", plan.pk), {"until": "2025-02-01", "reason": "Hospitalised"}
    )

    assert "until" in form_errors(response)
    plan.refresh_from_db()
    assert plan.hold_until is None


def test_releasing_a_hold_clears_it_and_audits_the_reason(admin_client, admin_user):
    plan = overdue_plan()
    admin_client.post(url("plan_hold", plan.pk), {"until": "2025-03-20", "reason": "Away"})

    response = admin_client.post(url("plan_release_hold", plan.pk), {"reason": "Back early"})

    assert response.status_code == 302
    plan.refresh_from_db()
    assert plan.hold_until is None
    event = plan.events.get(kind=PlanEventKind.HOLD_RELEASED)
    assert (event.actor, event.reason) == (admin_user, "Back early")


def test_adding_shares_keeps_the_locked_price_and_audits_it(admin_client, admin_user):
    plan = overdue_plan()
    PurchaseStage.objects.create(
        name="Stage 2", share_price=D("2.00"), starts_on=dt.date(2025, 2, 1)
    )

    response = admin_client.post(url("plan_add_shares", plan.pk), {"shares": "100"})

    assert response.status_code == 302
    plan.refresh_from_db()
    assert (plan.shares, plan.price) == (3100, D("3100.00"))
    assert plan.events.get(kind=PlanEventKind.SHARES_ADDED).actor == admin_user


# ---------------------------------------------------------------------------- changelist actions


def test_hold_selected_plans_asks_for_a_date_and_reason_then_holds_each(admin_client):
    first, second = overdue_plan(), overdue_plan()
    selection = {"action": "hold_selected", "_selected_action": [first.pk, second.pk]}

    page = admin_client.post(url("plan_changelist"), selection)
    done = admin_client.post(
        url("plan_changelist"),
        {**selection, "apply": "yes", "until": "2025-03-15", "reason": "Festival season"},
    )

    assert page.status_code == 200
    assert set(page.context["adminform"].form.fields) == {"until", "reason"}
    assert done.status_code == 302
    assert set(Plan.objects.values_list("hold_until", flat=True)) == {dt.date(2025, 3, 15)}
    assert PlanEvent.objects.filter(kind=PlanEventKind.HOLD).count() == 2
    assert messages_of(done) == [f"2 plans put on hold: #{second.pk}, #{first.pk}."]


def test_restore_selected_without_reason_shows_a_form_error_and_restores_nothing(admin_client):
    plan = cancelled_plan()

    response = admin_client.post(
        url("plan_changelist"),
        {"action": "restore_selected", "_selected_action": [plan.pk], "apply": "yes", "reason": ""},
    )

    assert response.status_code == 200
    assert "reason" in form_errors(response)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.CANCELLED


def test_restore_selected_restores_the_cancelled_and_reports_the_others(admin_client, admin_user):
    cancelled = cancelled_plan()
    active = overdue_plan()

    response = admin_client.post(
        url("plan_changelist"),
        {
            "action": "restore_selected",
            "_selected_action": [cancelled.pk, active.pk],
            "apply": "yes",
            "reason": "Bank delay",
        },
    )

    cancelled.refresh_from_db()
    assert cancelled.status == PlanStatus.ACTIVE
    assert cancelled.events.get(kind=PlanEventKind.RESTORED).actor == admin_user
    assert messages_of(response) == [
        f"1 plan restored: #{cancelled.pk}.",
        f"Plan #{active.pk} is active, not cancelled.",
    ]


# ---------------------------------------------------------------------------- adding


def test_adding_a_plan_via_the_admin_add_form_creates_its_installments(admin_client, admin_user):
    StageFactory()
    investor, package = InvestorFactory(), PackageFactory(installment_count=4)

    response = admin_client.post(
        url("plan_add"),
        {"investor": investor.pk, "package": package.pk, "first_due_date": "2025-01-31"},
    )

    plan = Plan.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("plan_change", plan.pk)
    assert (plan.investor, plan.package, plan.purchased_on) == (investor, package, TODAY)
    assert list(plan.installments.values_list("due_date", flat=True)) == [
        dt.date(2025, 1, 31),
        dt.date(2025, 2, 28),
        dt.date(2025, 3, 31),
        dt.date(2025, 4, 30),
    ]
    assert plan.events.get(kind=PlanEventKind.CREATED).actor == admin_user


def test_adding_a_plan_without_a_stage_in_force_is_a_form_error(admin_client):
    investor, package = InvestorFactory(), PackageFactory()

    response = admin_client.post(
        url("plan_add"),
        {"investor": investor.pk, "package": package.pk, "first_due_date": "2025-04-01"},
    )

    assert response.status_code == 200
    assert "No purchase stage is in force" in form_errors(response)["package"][0]
    assert not Plan.objects.exists()


def test_the_payment_add_form_posts_through_the_service(admin_client, admin_user):
    plan = overdue_plan()

    response = admin_client.post(
        url("payment_add"),
        {"plan": plan.pk, "amount": "450.00", "received_on": "2025-02-28", "reference": "UPI-5"},
    )

    payment = Payment.objects.get()
    assert response["Location"] == url("payment_change", payment.pk)
    assert (payment.amount, payment.recorded_by) == (D("450.00"), admin_user)
    assert list(payment.allocations.values_list("amount", flat=True)) == [
        D("300.00"),
        D("150.00"),
    ]


def test_the_payment_add_form_refuses_a_future_date_and_changes_nothing(admin_client):
    plan = overdue_plan()

    response = admin_client.post(
        url("payment_add"),
        {"plan": plan.pk, "amount": "300.00", "received_on": "2025-03-02", "reference": "UPI-6"},
    )

    assert "in the future" in form_errors(response)["received_on"][0]
    assert not Payment.objects.exists()


# ---------------------------------------------------------------------------- read-only records


def test_payments_cannot_be_changed_or_deleted(admin_client, portfolio):
    payment = Payment.objects.get()

    change = admin_client.post(url("payment_change", payment.pk), {"amount": "1.00"})
    delete = admin_client.post(url("payment_delete", payment.pk), {"post": "yes"})

    assert (change.status_code, delete.status_code) == (403, 403)
    payment.refresh_from_db()
    assert payment.amount == D("600.00")


def test_the_audit_trail_cannot_be_added_changed_or_deleted(admin_client, portfolio):
    event = PlanEvent.objects.first()

    add = admin_client.get(url("planevent_add"))
    change = admin_client.post(url("planevent_change", event.pk), {"reason": "rewritten"})
    delete = admin_client.post(url("planevent_delete", event.pk), {"post": "yes"})
    bulk_delete = admin_client.post(
        url("planevent_changelist"),
        {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"},
    )

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert bulk_delete.status_code == 200  # the action is not offered at all
    assert PlanEvent.objects.filter(pk=event.pk, reason=event.reason).exists()


def test_the_plan_change_page_refuses_a_save(admin_client, portfolio):
    response = admin_client.post(url("plan_change", portfolio.pk), {"status": "completed"})

    assert response.status_code == 405
    portfolio.refresh_from_db()
    assert portfolio.status == PlanStatus.ACTIVE


def test_plan_changelist_sorts_the_most_urgent_first(admin_client):
    later = make_plan(first_due_date=dt.date(2025, 2, 20))
    nothing_due = make_plan(first_due_date=dt.date(2025, 4, 1))
    sooner = overdue_plan()

    # Columns are numbered from 1 here: the actions' checkbox is column 0.
    days_left_column = PlanAdmin.list_display.index("days_left") + 1
    response = admin_client.get(url("plan_changelist"), {"o": str(days_left_column)})

    assert list(response.context["cl"].result_list) == [sooner, later, nothing_due]


def test_plans_cannot_be_deleted(admin_client, portfolio):
    response = admin_client.post(url("plan_delete", portfolio.pk), {"post": "yes"})

    assert response.status_code == 403
    assert Plan.objects.filter(pk=portfolio.pk).exists()


def test_plan_actions_need_the_change_permission_on_plans(client):
    plan = overdue_plan()
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_plan"))
    client.force_login(viewer)

    page = client.get(url("plan_change", plan.pk))
    post = client.post(
        url("plan_record_payment", plan.pk),
        {"amount": "300.00", "received_on": "2025-03-01", "reference": "SNEAKY"},
    )

    assert page.status_code == 200
    assert url("plan_record_payment", plan.pk) not in page.content.decode()
    assert post.status_code == 403
    assert not Payment.objects.exists()


# ---------------------------------------------------------------------------- packages


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("2/3", Fraction(2, 3)), ("0.5", Fraction(1, 2)), ("0", Fraction(0)), ("1", Fraction(1))],
)
def test_a_package_keeps_the_final_payment_fraction_exact(admin_client, typed, stored):
    response = admin_client.post(
        url("package_add"),
        {
            "name": "Silver",
            "shares": "1200",
            "price": "1200.00",
            "installment_count": "12",
            "final_payment_fraction": typed,
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    assert Package.objects.get(name="Silver").final_payment_fraction == stored


@pytest.mark.parametrize("typed", ["abc", "3/2", "0.6.6", "1/0"])
def test_a_malformed_final_payment_fraction_is_a_form_error(admin_client, typed):
    response = admin_client.post(
        url("package_add"),
        {
            "name": "Silver",
            "shares": "1200",
            "price": "1200.00",
            "installment_count": "12",
            "final_payment_fraction": typed,
        },
    )

    assert response.status_code == 200
    assert "final_payment_fraction" in form_errors(response)
    assert not Package.objects.exists()


def test_the_package_change_form_shows_the_fraction_as_typed(admin_client):
    package = PackageFactory(final_payment_fraction="0.5")

    response = admin_client.get(url("package_change", package.pk))

    assert response.context["adminform"].form.initial["final_payment_fraction"] == "1/2"


def test_a_package_whose_installment_is_under_a_cent_is_a_form_error(admin_client):
    response = admin_client.post(
        url("package_add"),
        {
            "name": "Tiny",
            "shares": "1",
            "price": "0.01",
            "installment_count": "24",
            "final_payment_fraction": "2/3",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert "cannot be split into 24 installments" in response.content.decode()
    assert not Package.objects.filter(name="Tiny").exists()


def test_the_payment_form_says_what_the_plan_still_owes_and_what_is_overdue(admin_client):
    plan = overdue_plan()
    page = admin_client.get(url("plan_record_payment", plan.pk)).content.decode()
    owed = sum(i.amount - i.paid_amount for i in plan.installments.all())
    late = plan.installments.filter(paid_on__isnull=True, due_date__lt=TODAY)
    overdue = sum(i.amount - i.paid_amount for i in late)
    assert overdue > 0
    assert f"Still to pay: {owed:.2f} USD, of which {overdue:.2f} USD is overdue." in page
    assert '<label class="required" for="id_amount">Amount:</label>' in page


def test_the_payment_form_of_a_cancelled_plan_says_a_payment_in_time_restores_it(admin_client):
    plan = cancelled_plan()
    page = admin_client.get(url("plan_record_payment", plan.pk)).content.decode()
    assert "The plan is cancelled: a payment received by its grace deadline restores it." in page
    assert "nothing is overdue" not in page


@pytest.mark.parametrize("tool", ["plan_record_payment", "plan_restore", "plan_hold"])
def test_a_plan_tool_for_an_id_that_is_no_plan_is_a_404(admin_client, tool):
    assert admin_client.get(url(tool, "abc")).status_code == 404
    assert admin_client.get(url(tool, "999999")).status_code == 404


def test_more_shares_than_a_plan_may_hold_is_a_form_error_and_changes_nothing(admin_client):
    plan = overdue_plan()
    response = admin_client.post(url("plan_add_shares", plan.pk), {"shares": "1000000001"})
    assert response.status_code == 200
    assert "shares" in form_errors(response)
    with pytest.raises(DomainError, match="at most 1,000,000,000 shares"):
        plan_add_shares(plan=plan, shares=1_000_000_001, today=TODAY)
    plan.refresh_from_db()
    assert plan.shares == 3000
