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
