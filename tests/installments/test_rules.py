"""The rules of docs/rules.md, without a database: every boundary example, and properties with
hypothesis."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from installments import rules

D = Decimal


# ---------------------------------------------------------------------------- money


@pytest.mark.parametrize("text", ["300.00", "0.01", "1", "9999999999.99", " 12.5 "])
def test_valid_amounts_are_parsed_to_two_places(text):
    assert rules.parse_money(text) == D(text.strip()).quantize(D("0.01"))
    assert rules.parse_money(text).as_tuple().exponent == -2


@pytest.mark.parametrize(
    "bad",
    [
        "0",
        "0.00",
        "-5",
        "-0.01",
        "abc",
        "",
        "NaN",
        "Infinity",
        "1e400",
        "1.234",
        "10000000000.00",
        0.1,
        True,
    ],
)
def test_zero_negative_malformed_and_absurd_amounts_are_refused(bad):
    with pytest.raises(rules.RuleError):
        rules.parse_money(bad)


# ---------------------------------------------------------------------------- schedule


def test_thousand_over_three_installments_puts_the_remainder_on_the_last():
    assert rules.split_amount(D("1000.00"), 3) == [D("333.33"), D("333.33"), D("333.34")]


def test_month_end_anchor_goes_back_to_the_original_day_after_a_short_month():
    due = [
        i.due_date
        for i in rules.schedule(price=D("300.00"), count=3, first_due_date=dt.date(2023, 1, 31))
    ]
    assert due == [dt.date(2023, 1, 31), dt.date(2023, 2, 28), dt.date(2023, 3, 31)]


def test_month_end_anchor_uses_february_29_in_a_leap_year():
    due = [
        i.due_date
        for i in rules.schedule(price=D("300.00"), count=3, first_due_date=dt.date(2024, 1, 31))
    ]
    assert due == [dt.date(2024, 1, 31), dt.date(2024, 2, 29), dt.date(2024, 3, 31)]


def test_schedule_runs_across_the_year_end_on_the_same_day():
    due = [
        i.due_date
        for i in rules.schedule(price=D("400.00"), count=4, first_due_date=dt.date(2024, 11, 30))
    ]
    assert due == [
        dt.date(2024, 11, 30),
        dt.date(2024, 12, 30),
        dt.date(2025, 1, 30),
        dt.date(2025, 2, 28),
    ]


def test_installments_are_numbered_from_one():
    assert [
        i.number
        for i in rules.schedule(price=D("10.00"), count=3, first_due_date=dt.date(2024, 5, 1))
    ] == [1, 2, 3]


@given(
    price=st.decimals(min_value=D("0.01"), max_value=D("99999999.99"), places=2),
    count=st.integers(min_value=1, max_value=120),
    first=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31)),
)
def test_schedule_amounts_always_add_up_to_the_price(price, count, first):
    assume(price >= D("0.01") * count)  # fewer cents than installments: refused (below)
    items = rules.schedule(price=price, count=count, first_due_date=first)
    assert sum(i.amount for i in items) == price
    assert len(items) == count
    assert all(i.amount.as_tuple().exponent == -2 for i in items)
    # Every installment but the last is the same rounded-down share; the last takes the cents.
    assert len({i.amount for i in items[:-1]}) <= 1
    assert all(items[-1].amount >= i.amount for i in items)
    assert all(i.amount >= D("0.01") for i in items)


@pytest.mark.parametrize(("price", "count"), [("0.01", 24), ("0.23", 24), ("1.00", 101)])
def test_a_schedule_with_an_installment_under_a_cent_is_refused(price, count):
    with pytest.raises(rules.RuleError, match=r"at least 0\.01"):
        rules.schedule(price=D(price), count=count, first_due_date=dt.date(2026, 1, 1))


@pytest.mark.parametrize("text", ["1E2", "1e-2", "١٠٠", "٣٠٠.٠٠", "1_000", "0x10", " 1 0"])
def test_money_is_plain_ascii_digits_without_an_exponent(text):
    with pytest.raises(rules.RuleError, match="not an amount of money"):
        rules.parse_money(text)


@given(
    anchor=st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2090, 12, 31)),
    months=st.integers(min_value=0, max_value=120),
)
def test_add_months_keeps_the_day_or_takes_the_last_day_of_a_shorter_month(anchor, months):
    due = rules.add_months(anchor, months)
    assert (due.year * 12 + due.month) - (anchor.year * 12 + anchor.month) == months
    if due.day != anchor.day:
        assert due.day < anchor.day
        assert (due + dt.timedelta(days=1)).day == 1


# ---------------------------------------------------------------------------- allocation


def _owed(*amounts, start=dt.date(2024, 1, 1)):
    return [
        rules.Outstanding(key=k, due_date=rules.add_months(start, k), unpaid=D(a))
        for k, a in enumerate(amounts)
    ]


def test_money_goes_to_the_oldest_unpaid_installment_first_and_the_rest_to_the_next():
    assert rules.allocate(D("450.00"), _owed("300.00", "300.00", "300.00")) == [
        (0, D("300.00")),
        (1, D("150.00")),
    ]


def test_allocation_starts_with_the_earliest_due_date_whatever_the_input_order():
    items = list(reversed(_owed("100.00", "100.00")))
    assert rules.allocate(D("100.00"), items) == [(0, D("100.00"))]


def test_a_payment_larger_than_the_remaining_balance_is_refused():
    with pytest.raises(rules.RuleError, match=r"larger than the remaining balance of 600\.00"):
        rules.allocate(D("600.01"), _owed("300.00", "300.00"))


def test_a_payment_of_exactly_the_remaining_balance_is_allocated_in_full():
    assert sum(a for _, a in rules.allocate(D("600.00"), _owed("300.00", "300.00"))) == D("600")


@given(
    owed=st.lists(
        st.decimals(min_value=D("0.01"), max_value=D("5000"), places=2), min_size=1, max_size=24
    ),
    data=st.data(),
)
def test_allocation_never_exceeds_what_is_owed_and_spends_the_whole_payment(owed, data):
    items = _owed(*owed)
    balance = sum(owed)
    amount = data.draw(st.decimals(min_value=D("0.01"), max_value=balance, places=2))
    allocations = rules.allocate(amount, items)
    assert sum(a for _, a in allocations) == amount
    by_key = {i.key: i.unpaid for i in items}
    assert all(0 < a <= by_key[k] for k, a in allocations)
    # Oldest first: every installment before the last one touched is paid in full.
    for key, portion in allocations[:-1]:
        assert portion == by_key[key]


# ---------------------------------------------------------------------------- grace


def test_an_installment_is_overdue_from_the_day_after_its_due_date():
    due = dt.date(2024, 3, 10)
    assert not rules.is_overdue(due, due)
    assert rules.is_overdue(due, due + dt.timedelta(days=1))


def test_grace_deadline_is_the_oldest_unpaid_due_date_plus_nineteen_days():
    assert rules.grace_deadline(dt.date(2024, 3, 10)) == dt.date(2024, 3, 29)


def test_plan_is_saveable_on_d_plus_19_and_cancelled_by_the_scan_of_d_plus_20():
    due = dt.date(2024, 3, 10)
    deadline = rules.grace_deadline(due)
    assert not rules.scan_cancels(deadline, due + dt.timedelta(days=19))
    assert rules.scan_cancels(deadline, due + dt.timedelta(days=20))


def test_days_left_counts_down_to_zero_on_the_deadline_and_goes_negative_after():
    deadline = dt.date(2024, 3, 29)
    assert rules.days_left(deadline, dt.date(2024, 3, 11)) == 18
    assert rules.days_left(deadline, deadline) == 0
    assert rules.days_left(deadline, dt.date(2024, 4, 2)) == -4


def test_a_hold_pushes_the_deadline_to_its_end_but_never_earlier():
    due = dt.date(2024, 3, 10)
    assert rules.grace_deadline(due, hold_until=dt.date(2024, 5, 1)) == dt.date(2024, 5, 1)
    assert rules.grace_deadline(due, hold_until=dt.date(2024, 3, 12)) == dt.date(2024, 3, 29)


def test_a_restore_extension_pushes_the_deadline():
    assert rules.grace_deadline(dt.date(2024, 1, 1), extended_to=dt.date(2024, 6, 20)) == dt.date(
        2024, 6, 20
    )


def test_latest_saveable_due_date_matches_the_cancellation_rule():
    scan = dt.date(2024, 3, 30)
    boundary = rules.latest_saveable_due_date(scan)
    assert not rules.scan_cancels(rules.grace_deadline(boundary), scan)
    assert rules.scan_cancels(rules.grace_deadline(boundary - dt.timedelta(days=1)), scan)


# ---------------------------------------------------------------------------- shares


def test_final_payment_fraction_is_parsed_exactly():
    assert rules.parse_fraction("2/3") == Fraction(2, 3)
    assert rules.parse_fraction("0.5") == Fraction(1, 2)
    assert rules.format_fraction(rules.parse_fraction("0.5")) == "1/2"


@pytest.mark.parametrize("bad", [0.6667, "two thirds", "3/2", "-1/3", "1/0", ""])
def test_floats_and_fractions_outside_zero_to_one_are_refused(bad):
    with pytest.raises(rules.RuleError):
        rules.parse_fraction(bad)


def test_a_rounded_fraction_would_credit_99_where_the_exact_one_credits_100():
    exact = rules.progressive_shares(
        shares=3000, final_fraction=Fraction(2, 3), paid=D("300.00"), price=D("3000.00")
    )
    rounded = rules.progressive_shares(
        shares=3000, final_fraction=Fraction("0.6667"), paid=D("300.00"), price=D("3000.00")
    )
    assert (exact, rounded) == (100, 99)


def test_nine_payments_credit_100_shares_each_and_the_final_payment_2100():
    credited = 0
    credits = []
    for k in range(1, 11):
        credit = rules.shares_for_payment(
            shares=3000,
            final_fraction=Fraction(2, 3),
            price=D("3000.00"),
            paid_before=D("300.00") * (k - 1),
            paid_after=D("300.00") * k,
            base_credited=credited,
        )
        credits.append(credit.progressive + credit.final)
        credited += credit.progressive + credit.final
    assert credits == [100] * 9 + [2100]
    assert credited == 3000


def test_progressive_credit_is_cumulative_floor_not_a_sum_of_floors():
    # 1000 shares, F = 2/3, P = 300, paid in 100.00 steps: 111.1 → 111, 222.2 → 222.
    first = rules.shares_for_payment(
        shares=1000,
        final_fraction=Fraction(2, 3),
        price=D("900.00"),
        paid_before=D("0"),
        paid_after=D("300.00"),
        base_credited=0,
    )
    second = rules.shares_for_payment(
        shares=1000,
        final_fraction=Fraction(2, 3),
        price=D("900.00"),
        paid_before=D("300.00"),
        paid_after=D("600.00"),
        base_credited=first.progressive,
    )
    assert (first.progressive, second.progressive) == (111, 111)


@given(
    shares=st.integers(min_value=1, max_value=10**7),
    fraction=st.fractions(min_value=0, max_value=1, max_denominator=12),
    price=st.decimals(min_value=D("1.00"), max_value=D("1000000"), places=2),
    cuts=st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=15),
)
def test_shares_credited_never_exceed_the_package_and_reach_it_on_completion(
    shares, fraction, price, cuts
):
    # Split the price into payments in the proportions drawn.
    total = sum(cuts)
    payments = [(price * c / total).quantize(D("0.01")) for c in cuts]
    payments[-1] = price - sum(payments[:-1])
    if any(p <= 0 for p in payments):
        return
    paid, credited = D("0"), 0
    for amount in payments:
        credit = rules.shares_for_payment(
            shares=shares,
            final_fraction=fraction,
            price=price,
            paid_before=paid,
            paid_after=paid + amount,
            base_credited=credited,
        )
        assert credit.progressive >= 0 and credit.final >= 0
        paid += amount
        credited += credit.progressive + credit.final
        assert credited <= shares
    assert credited == shares


def test_bonus_is_a_whole_number_of_shares_rounded_down():
    assert rules.bonus_shares(3000, D("5")) == 150
    assert rules.bonus_shares(333, D("5")) == 16
    assert rules.bonus_shares(10, D("2.5")) == 0


# ---------------------------------------------------------------------------- promotions


def _paid(*days_late):
    base = dt.date(2024, 1, 10)
    return [
        rules.PaidInstallment(
            due_date=rules.add_months(base, k),
            amount=D("100"),
            paid_on=rules.add_months(base, k) + dt.timedelta(days=late),
        )
        for k, late in enumerate(days_late)
    ]


def test_on_time_bonus_needs_every_installment_paid_on_or_before_its_due_date():
    assert rules.earns_on_time_bonus(_paid(0, -5, 0))


def test_on_time_bonus_is_lost_by_a_single_day_late():
    assert not rules.earns_on_time_bonus(_paid(0, 1, 0))


def test_double_payment_bonus_needs_two_whole_installments_in_one_payment():
    assert rules.earns_double_payment_bonus(2)
    assert not rules.earns_double_payment_bonus(1)


def test_early_repayment_is_completing_before_the_last_due_date():
    last = dt.date(2024, 12, 10)
    assert rules.earns_early_repayment_bonus(
        completes_plan=True, received_on=dt.date(2024, 12, 9), last_due_date=last
    )
    assert not rules.earns_early_repayment_bonus(
        completes_plan=True, received_on=last, last_due_date=last
    )
    assert not rules.earns_early_repayment_bonus(
        completes_plan=False, received_on=dt.date(2024, 6, 1), last_due_date=last
    )


# ---------------------------------------------------------------------------- late payments


def test_a_late_recorded_payment_received_by_the_deadline_that_clears_the_arrears_restores():
    assert rules.reevaluates_to_restore(
        cancelled_on=dt.date(2024, 1, 21),
        received_on=dt.date(2024, 1, 20),
        deadline_before=dt.date(2024, 1, 20),
        deadline_after=dt.date(2024, 2, 20),
    )


def test_a_payment_received_the_day_after_the_deadline_does_not_restore():
    assert not rules.reevaluates_to_restore(
        cancelled_on=dt.date(2024, 1, 21),
        received_on=dt.date(2024, 1, 21),
        deadline_before=dt.date(2024, 1, 20),
        deadline_after=dt.date(2024, 2, 20),
    )


def test_a_payment_that_leaves_the_arrears_past_the_cancellation_does_not_restore():
    assert not rules.reevaluates_to_restore(
        cancelled_on=dt.date(2024, 1, 21),
        received_on=dt.date(2024, 1, 10),
        deadline_before=dt.date(2024, 1, 20),
        deadline_after=dt.date(2024, 1, 20),
    )


@pytest.mark.parametrize("bad", ["1e-9999999", "1e3", "0x1", "1/2/3", "1" * 20 + "/" + "3" * 20])
def test_fractions_with_exponents_or_absurd_lengths_are_refused_at_once(bad):
    with pytest.raises(rules.RuleError):
        rules.parse_fraction(bad)


def test_a_fraction_of_zero_is_valid():
    assert rules.parse_fraction("0") == Fraction(0)


def test_a_schedule_past_the_end_of_the_calendar_is_refused():
    with pytest.raises(rules.RuleError):
        rules.schedule(price=D("100.00"), count=12, first_due_date=dt.date(9999, 6, 1))


owed_installments = st.lists(
    st.builds(
        rules.Outstanding,
        key=st.integers(min_value=1, max_value=10**6),
        due_date=st.dates(min_value=dt.date(2026, 1, 1), max_value=dt.date(2026, 12, 31)),
        unpaid=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000"), places=2),
    ),
    max_size=8,
)
any_day = st.dates(min_value=dt.date(2025, 12, 1), max_value=dt.date(2027, 1, 31))


@given(owed=owed_installments, today=any_day, other=any_day)
def test_the_overdue_amount_holds_on_exactly_the_days_of_its_span(owed, today, other):
    amount, first, last = rules.overdue_amount_span(owed, today)
    assert amount == rules.overdue_amount(owed, today)
    inside = (first is None or first <= other) and (last is None or other <= last)
    if inside:
        assert rules.overdue_amount(owed, other) == amount
    else:
        # Every installment has something unpaid: the day after the span another falls
        # overdue, the day before it one was not yet.
        assert rules.overdue_amount(owed, other) != amount


def test_a_first_due_date_reaches_ten_years_back_and_one_year_ahead_and_no_further():
    today = dt.date(2026, 2, 28)
    for allowed in (dt.date(2016, 2, 28), today, dt.date(2027, 2, 28)):
        rules.first_due_date_check(allowed, today)
    for refused in (dt.date(2016, 2, 27), dt.date(2027, 3, 1), dt.date(1900, 1, 1)):
        with pytest.raises(rules.RuleError, match="from 2016-02-28 to 2027-02-28"):
            rules.first_due_date_check(refused, today)


def test_a_hold_lasts_from_today_to_366_days_ahead():
    today = dt.date(2026, 3, 31)
    rules.hold_check(today, today)
    rules.hold_check(today + dt.timedelta(days=366), today)
    with pytest.raises(rules.RuleError, match="today or later"):
        rules.hold_check(today - dt.timedelta(days=1), today)
    with pytest.raises(rules.RuleError, match="366 days at the most: until 2027-04-01"):
        rules.hold_check(today + dt.timedelta(days=367), today)


def test_a_refused_amount_is_quoted_as_written_not_as_a_python_value():
    # A form may hand over the Decimal it already read from "1e2".
    with pytest.raises(rules.RuleError) as refused:
        rules.parse_money(D("1E+2"))
    assert str(refused.value) == "“1E+2” is not an amount of money."
