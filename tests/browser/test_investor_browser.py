"""An investor on a phone, in a real browser, in English and in Hindi: sees what is owed, by
when and what is at stake; asks for help; their participant finds the request first in the
Structure and answers it; the investor sees the answer."""

import datetime as dt

import pytest

from backoffice.lib.dates import business_today
from clients.services import investor_grant_login
from tests.factories import InvestorFactory, make_plan, participant

PASSWORD = "correct-horse-battery"
PHONE = {"width": 390, "height": 844}

WORDS = {
    "en": {"my_plans": "My plans", "ask": "Ask my participant for help", "at_stake": "are lost"},
    "hi": {"my_plans": "मेरी योजनाएँ", "ask": "अपने प्रतिभागी से मदद माँगें", "at_stake": "खो"},
}


@pytest.fixture
def people(transactional_db, login_throttling, settings):
    settings.DEBUG = False
    today = business_today()
    priya = participant("priya", name="Priya Sharma")
    priya.user.set_password(PASSWORD)
    priya.user.save()
    aarav = InvestorFactory(name="Aarav Desai", sponsor=priya, messenger="")
    chetan = InvestorFactory(name="Chetan Rao", sponsor=priya, messenger="")
    for investor, days_ago in ((aarav, 18), (chetan, 25)):  # 1 day left; 6 days past
        first_due = today - dt.timedelta(days=days_ago)
        make_plan(investor=investor, first_due_date=first_due, today=first_due)
    investor_grant_login(investor=aarav, username="aarav", password=PASSWORD)
    return {"today": today, "aarav": aarav}


def sign_in(browser, live_server, username, language):
    context = browser.new_context(viewport=PHONE)
    host = live_server.url.split("//")[1].split(":")[0]
    context.add_cookies(
        [{"name": "django_language", "value": language, "domain": host, "path": "/"}]
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_load_state()
    return context, page


@pytest.mark.parametrize("language", ["en", "hi"])
def test_an_investor_asks_for_help_and_sees_the_participants_answer(
    people, live_server, chromium, artifacts, language
):
    words = WORDS[language]
    investor, page = sign_in(chromium, live_server, "aarav", language)
    page.wait_for_url("**/me/")
    assert page.locator("html").get_attribute("lang") == language
    assert page.locator("h1").inner_text() == words["my_plans"]
    stake = page.locator("[data-stake]")
    assert page.locator("[data-overdue]").inner_text().startswith("300.00")
    assert words["at_stake"] in stake.inner_text()
    assert "1" in stake.locator(".days").inner_text()
    page.screenshot(path=artifacts / f"investor-{language}-plans.png", full_page=True)

    page.click("[data-ask]")
    assert page.locator("[data-ask]").inner_text() == words["ask"]
    page.fill("textarea[name=message]", "My salary comes on the 20th")
    page.fill("input[name=contact_via]", "WhatsApp after 6 pm")
    page.click("[data-send-help]")
    page.wait_for_selector("[data-help-state=received]")
    page.screenshot(path=artifacts / f"investor-{language}-asked.png", full_page=True)

    # The participant: the request comes first in "most urgent first", with its badge.
    participant_context, desk = sign_in(chromium, live_server, "priya", language)
    desk.wait_for_url("**/structure/")
    first = desk.locator("#structure-rows tbody tr").first
    assert first.locator("a.name").inner_text() == "Aarav Desai"
    assert first.locator("[data-help]").count() == 1
    desk.screenshot(path=artifacts / f"participant-{language}-help-first.png", full_page=True)
    first.locator("a.name").click()
    desk.wait_for_url("**/structure/investors/**")
    assert "My salary comes on the 20th" in desk.locator("#help-requests").inner_text()
    desk.click("[data-answer]")
    desk.wait_for_load_state()
    assert desk.locator("[data-answer]").count() == 0
    participant_context.close()

    page.reload()
    page.wait_for_selector("[data-help-state=answered]")
    page.screenshot(path=artifacts / f"investor-{language}-answered.png", full_page=True)
    investor.close()
    for step in ("plans", "asked", "answered"):
        assert (artifacts / f"investor-{language}-{step}.png").stat().st_size > 10_000


# The cells (shown) of the card's tables whose right edge lies past the card's.
CELLS_PAST_THE_CARD = """card => {
  const right = card.getBoundingClientRect().right;
  return [...card.querySelectorAll("th, td")]
    .filter(cell => cell.getClientRects().length
                    && cell.getBoundingClientRect().right > right + 0.5)
    .map(cell => cell.textContent.trim());
}"""


@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_reminders_sent_are_readable_on_a_phone_and_stay_a_table_on_a_laptop(
    people, live_server, chromium, artifacts, language
):
    from django.utils import timezone

    from reminders.models import Reminder
    from tests.reminders.conftest import seed_defaults

    seed_defaults()  # the flush of an earlier transactional test emptied the cadence
    aarav, now = people["aarav"], timezone.now()
    plan = aarav.plans.get()
    installment = plan.installments.get(number=1)
    for kind, channel, status, reason in (
        ("overdue-week", "email", "sent", ""),
        ("overdue-week", "sms", "failed", ""),
        ("overdue", "messenger", "skipped", "the recipient opted out of messenger"),
    ):
        Reminder.objects.create(
            recipient=aarav,
            plan=plan,
            installment=installment,
            kind=kind,
            channel=channel,
            queued_on=people["today"],
            scheduled_for=now,
            sent_at=now if status == "sent" else None,
            status=status,
            skip_reason=reason,
        )

    context, page = sign_in(chromium, live_server, "aarav", language)
    page.wait_for_url("**/me/")
    card = page.locator("#reminders")
    card.scroll_into_view_if_needed()
    card.screenshot(path=artifacts / f"investor-{language}-reminders-phone.png")
    assert card.evaluate(CELLS_PAST_THE_CARD) == []
    # Each row's status is on the screen, with what it is.
    statuses = card.locator("tbody td[data-label]:last-child")
    assert statuses.count() == 3
    for n in range(3):
        assert statuses.nth(n).is_visible()
    assert "opted out of messenger" in card.inner_text()
    context.close()

    context, page = sign_in(chromium, live_server, "aarav", language)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/me/")
    card = page.locator("#reminders")
    card.screenshot(path=artifacts / f"investor-{language}-reminders-laptop.png")
    assert card.locator("thead th").nth(4).is_visible()  # the table's own header row
    assert card.evaluate(CELLS_PAST_THE_CARD) == []
    context.close()
