"""The investors admin: lists, filters and search; adding, moving and granting a login go
through clients.services, so the tree's paths stay right."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from clients.models import Investor, Participant
from tests.factories import InvestorFactory, UserFactory, make_plan, participant

pytestmark = [
    pytest.mark.django_db,
]


@pytest.fixture(autouse=True)
def business_day(time_machine):
    time_machine.move_to(dt.datetime(2025, 3, 1, 6, 30, tzinfo=dt.UTC), tick=False)


def url(name, *args):
    return reverse(f"admin:clients_{name}", args=args)


def form_errors(response):
    return response.context["adminform"].form.errors


def listed(response):
    return set(response.context["cl"].result_list)


@pytest.fixture
def tree():
    """Asha (a participant) brought Ravi, who brought Kiran; Dev stands alone."""
    asha = participant("asha", name="Asha Rao", phone="+919800000101", email="asha@example.com")
    ravi = InvestorFactory(name="Ravi Kumar", sponsor=asha, email="ravi@example.com")
    kiran = InvestorFactory(name="Kiran Shah", sponsor=ravi, phone="+919811112222")
    dev = InvestorFactory(name="Dev Patel", language="hi")
    return asha, ravi, kiran, dev


# ---------------------------------------------------------------------------- pages render


def test_investor_and_participant_pages_render_with_data(admin_client, tree):
    asha, ravi, *_ = tree
    make_plan(investor=ravi, first_due_date=dt.date(2025, 2, 10))

    pages = [
        url("investor_changelist"),
        url("investor_change", ravi.pk),
        url("investor_add"),
        url("participant_changelist"),
        url("participant_change", asha.pk),
    ]

    for page in pages:
        assert admin_client.get(page).status_code == 200, page


def test_investor_change_page_shows_level_read_only_and_their_plans(admin_client, tree):
    _, ravi, *_ = tree
    plan = make_plan(investor=ravi, first_due_date=dt.date(2025, 2, 10))

    response = admin_client.get(url("investor_change", ravi.pk))

    form = response.context["adminform"].form
    assert set(form.fields) == {"name", "phone", "email", "messenger", "language", "time_zone"}
    (plans,) = response.context["inline_admin_formsets"]
    assert [f.original for f in plans] == [plan]
    assert reverse("admin:installments_plan_change", args=[plan.pk]) in response.content.decode()
    assert url("investor_move", ravi.pk) in response.content.decode()


def test_the_participant_list_holds_only_investors_with_a_login(admin_client, tree):
    asha, *_ = tree

    response = admin_client.get(url("participant_changelist"))

    assert listed(response) == {asha}
    assert response.context["cl"].result_list[0].client_count == 1


def test_investor_changelist_does_not_query_per_row(admin_client, django_assert_max_num_queries):
    sponsor = InvestorFactory()
    for _ in range(30):
        InvestorFactory(sponsor=sponsor)

    with django_assert_max_num_queries(10):
        admin_client.get(url("investor_changelist"))


# ---------------------------------------------------------------------------- filters, search


def test_the_participant_filter_splits_investors_by_login(admin_client, tree):
    asha, ravi, kiran, dev = tree

    yes = admin_client.get(url("investor_changelist"), {"participant": "yes"})
    no = admin_client.get(url("investor_changelist"), {"participant": "no"})

    assert listed(yes) == {asha}
    assert listed(no) == {ravi, kiran, dev}


def test_investors_are_filtered_by_language(admin_client, tree):
    *_, dev = tree

    response = admin_client.get(url("investor_changelist"), {"language__exact": "hi"})

    assert listed(response) == {dev}


@pytest.mark.parametrize(
    ("term", "name"),
    [("kumar", "Ravi Kumar"), ("9811112222", "Kiran Shah"), ("asha@example", "Asha Rao")],
)
def test_investors_are_found_by_name_phone_or_email(admin_client, tree, term, name):
    response = admin_client.get(url("investor_changelist"), {"q": term})

    assert [i.name for i in listed(response)] == [name]


# ---------------------------------------------------------------------------- through services


def test_adding_an_investor_goes_through_the_service_and_builds_the_tree_path(admin_client, tree):
    _, ravi, *_ = tree

    response = admin_client.post(
        url("investor_add"),
        {"name": "  Neha Gupta ", "sponsor": ravi.pk, "phone": "+919800009999", "language": "hi"},
    )

    neha = Investor.objects.get(name="Neha Gupta")
    assert response["Location"] == url("investor_change", neha.pk)
    assert (neha.sponsor, neha.depth) == (ravi, ravi.depth + 1)
    assert neha.path.startswith(ravi.path)
    assert neha in Investor.objects.in_structure_of(ravi)


def test_adding_an_investor_without_a_name_is_a_form_error(admin_client):
    response = admin_client.post(url("investor_add"), {"name": "", "language": "en"})

    assert response.status_code == 200
    assert "name" in form_errors(response)
    assert not Investor.objects.exists()


def test_editing_contacts_saves_them_and_leaves_the_tree_alone(admin_client, tree):
    _, ravi, *_ = tree
    path, depth = ravi.path, ravi.depth

    response = admin_client.post(
        url("investor_change", ravi.pk),
        {
            "name": "Ravi Kumar",
            "phone": "+919822223333",
            "email": "ravi@example.com",
            "messenger": "@ravi_kumar",
            "language": "en",
            "plans-TOTAL_FORMS": "0",
            "plans-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 302
    ravi.refresh_from_db()
    assert (ravi.phone, ravi.messenger) == ("+919822223333", "@ravi_kumar")
    assert (ravi.path, ravi.depth) == (path, depth)


def test_moving_an_investor_moves_their_whole_structure(admin_client, tree):
    asha, ravi, kiran, dev = tree

    response = admin_client.post(url("investor_move", ravi.pk), {"sponsor": dev.pk})

    assert response.status_code == 302
    ravi.refresh_from_db()
    kiran.refresh_from_db()
    assert ravi.sponsor == dev
    assert set(Investor.objects.in_structure_of(dev)) == {ravi, kiran}
    assert not Investor.objects.in_structure_of(asha).exists()
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Ravi Kumar now sits under Dev Patel, at depth 2."
    ]


def test_moving_an_investor_under_their_own_structure_is_a_form_error(admin_client, tree):
    asha, ravi, kiran, _ = tree

    response = admin_client.post(url("investor_move", ravi.pk), {"sponsor": kiran.pk})

    assert "their own structure" in form_errors(response)["sponsor"][0]
    ravi.refresh_from_db()
    assert ravi.sponsor == asha


def test_granting_a_login_makes_the_investor_a_participant(admin_client, tree):
    _, ravi, *_ = tree

    response = admin_client.post(
        url("investor_grant_login", ravi.pk),
        {"username": "ravi", "password": "a-long-unusual-passphrase"},
    )

    assert response.status_code == 302
    ravi.refresh_from_db()
    assert ravi.user.get_username() == "ravi"
    assert ravi.user.check_password("a-long-unusual-passphrase")
    assert Participant.objects.filter(pk=ravi.pk).exists()


def test_granting_a_taken_username_is_a_form_error_and_creates_no_user(admin_client, tree):
    _, ravi, *_ = tree
    users_before = get_user_model().objects.count()

    response = admin_client.post(
        url("investor_grant_login", ravi.pk),
        {"username": "ASHA", "password": "a-long-unusual-passphrase"},
    )

    assert "is taken" in form_errors(response)["username"][0]
    assert get_user_model().objects.count() == users_before
    ravi.refresh_from_db()
    assert ravi.user is None


def test_investor_actions_need_the_change_permission(client, tree):
    _, ravi, *_ = tree
    viewer = UserFactory(is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_investor"))
    client.force_login(viewer)

    move = client.post(url("investor_move", ravi.pk), {"sponsor": ""})
    grant = client.post(url("investor_grant_login", ravi.pk), {"username": "x", "password": "y"})

    assert (move.status_code, grant.status_code) == (403, 403)
    ravi.refresh_from_db()
    assert ravi.sponsor is not None
