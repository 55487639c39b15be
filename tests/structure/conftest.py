"""A small structure with every row state, on a frozen business day.

root (participant "participant")
├── Asha      level 1  300.00 overdue since 2026-03-01: grace 2026-03-20, 5 days left
│   ├── Bina  level 2  300.00 overdue since 2026-02-25: grace 2026-03-16, 1 day left
│   │   └── Dev   level 3  on track (first due 2026-04-01)
│   └── Farid level 2  a cancelled plan only
├── Chetan    level 1  600.00 overdue since 2026-02-01: grace 2026-02-20, 23 days past
└── Esha      level 1  no plan
other participant "other" ── Xavier: overdue, in another structure
"""

import datetime as dt
from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from clients.models import Investor
from installments.models import Plan, PlanStatus
from installments.read_model import plans_changing
from tests.factories import InvestorFactory, make_plan, participant

TODAY = dt.date(2026, 3, 15)


@dataclass
class Structure:
    root: Investor
    asha: Investor
    bina: Investor
    chetan: Investor
    dev: Investor
    esha: Investor
    farid: Investor
    other_root: Investor
    xavier: Investor


@pytest.fixture
def today(time_machine):
    # Noon in Asia/Kolkata: the business day is TODAY whatever the server's zone.
    time_machine.move_to(dt.datetime(2026, 3, 15, 6, 30, tzinfo=dt.UTC), tick=False)
    return TODAY


@pytest.fixture
def structure(db, today) -> Structure:
    root = participant("participant", name="Root Participant")
    asha = InvestorFactory(
        name="Asha Verma",
        sponsor=root,
        phone="+91 98000 00001",
        email="asha@example.com",
        messenger="+919800000001",
        language="hi",
    )
    bina = InvestorFactory(
        name="Bina Shah", sponsor=asha, phone="+91 98000 00002", messenger="@bina_shah"
    )
    chetan = InvestorFactory(name="Chetan Rao", sponsor=root, email="chetan@example.org")
    dev = InvestorFactory(name="Dev Kumar", sponsor=bina)
    esha = InvestorFactory(name="Esha Nair", sponsor=root)
    farid = InvestorFactory(name="Farid Khan", sponsor=asha)
    make_plan(investor=asha, first_due_date=dt.date(2026, 3, 1), today=dt.date(2026, 2, 1))
    make_plan(investor=bina, first_due_date=dt.date(2026, 2, 25), today=dt.date(2026, 2, 1))
    make_plan(investor=chetan, first_due_date=dt.date(2026, 2, 1), today=dt.date(2026, 1, 15))
    make_plan(investor=dev, first_due_date=dt.date(2026, 4, 1), today=dt.date(2026, 3, 1))
    cancelled = make_plan(
        investor=farid, first_due_date=dt.date(2025, 6, 1), today=dt.date(2025, 5, 1)
    )
    # Test data: a plan the scan cancelled long ago.
    with plans_changing() as changes:
        changes.lock(cancelled)
        Plan.objects.filter(pk=cancelled.pk).update(
            status=PlanStatus.CANCELLED, cancelled_on=dt.date(2025, 6, 21)
        )
    other_root = participant("other", name="Other Participant")
    xavier = InvestorFactory(name="Xavier Das", sponsor=other_root)
    make_plan(investor=xavier, first_due_date=dt.date(2026, 3, 1), today=dt.date(2026, 2, 1))
    return Structure(root, asha, bina, chetan, dev, esha, farid, other_root, xavier)


@pytest.fixture
def root_client(structure):
    client = APIClient()
    client.force_authenticate(structure.root.user)
    return client


@pytest.fixture
def root_browser(client, structure):
    """Django's test client signed in (a session) as the structure's participant."""
    client.force_login(structure.root.user)
    return client
