"""Presses of the help button at the same moment (PostgreSQL: concurrent transactions)."""

import pytest

from reminders.models import Reminder
from structure.help import help_request_answer, help_request_ask
from structure.models import HelpRequest
from tests.factories import InvestorFactory, UserFactory, make_plan, participant
from tests.installments.test_concurrency import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def help_step():
    """A transactional test's flush empties the rows the migrations seeded: seed the
    help-request step and its texts again."""
    import importlib

    from django.apps import apps

    importlib.import_module("reminders.migrations.0005_help_request_trigger").seed(apps, None)


def test_four_presses_at_once_make_one_open_request_asked_four_times_and_one_message():
    root = participant("participant", name="Root", email="root@example.com", phone="")
    investor = InvestorFactory(name="Aarav", sponsor=root)
    plan = make_plan(investor=investor)
    today = plan.first_due_date

    def press():
        return help_request_ask(investor=investor, plan=plan, today=today, message="help")

    results = run_together(*([press] * 4))
    assert all(not isinstance(r, Exception) for r in results), results
    request = HelpRequest.objects.get()
    assert request.times_asked == 4
    assert Reminder.objects.filter(kind="help-request").count() == 1


def test_two_answers_at_once_record_one_and_refuse_the_other():
    root = participant("participant", name="Root")
    investor = InvestorFactory(name="Aarav", sponsor=root)
    plan = make_plan(investor=investor)
    request = help_request_ask(investor=investor, plan=plan, today=plan.first_due_date)
    staff = UserFactory(username="helper")

    results = run_together(
        lambda: help_request_answer(request=request, by=root.user),
        lambda: help_request_answer(request=request, by=staff),
    )
    assert sum(isinstance(r, Exception) for r in results) == 1
    assert HelpRequest.objects.get().answered_at is not None
