"""The admin after `load_demo`, in a real browser, on a laptop and on a phone, in English and
Hindi: the admin home opens on last night's scan, what it did and what needs attention, and
each figure opens the admin list behind it."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from backoffice.lib.dates import business_today
from reminders.models import ScanRun
from structure import demo
from tests.reminders.conftest import seed_defaults

VIEWPORTS = {"laptop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}
WORDS = {
    "en": {"title": "The nightly scan", "completed": "The last scan, of {date}, completed."},
    "hi": {"title": "रात का स्कैन", "completed": "पिछला स्कैन, {date} का, पूरा हुआ।"},
}


@pytest.fixture
def demo_loaded(transactional_db, login_throttling, settings):
    settings.DEBUG = False
    seed_defaults()  # the flush of an earlier transactional test emptied the cadence
    call_command("load_demo", "--investors", "60", "--seed", "11", stdout=StringIO())
    return ScanRun.objects.get(trigger="demo")


def sign_in_to_the_admin(browser, live_server, language, viewport):
    context = browser.new_context(viewport=viewport)
    host = live_server.url.split("//")[1].split(":")[0]
    context.add_cookies(
        [{"name": "django_language", "value": language, "domain": host, "path": "/"}]
    )
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", demo.ADMIN_USERNAME)
    page.fill("#id_password", demo.ADMIN_PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url("**/admin/")
    return context, page


@pytest.mark.parametrize("device", ["laptop", "phone"])
@pytest.mark.parametrize("language", ["en", "hi"])
def test_the_admin_home_shows_last_nights_scan_after_the_demo(
    demo_loaded, live_server, chromium, artifacts, language, device
):
    words = WORDS[language]
    run = demo_loaded
    assert run.scan_date == business_today() - dt.timedelta(days=1)
    assert run.reminders_queued > 0
    context, page = sign_in_to_the_admin(chromium, live_server, language, VIEWPORTS[device])

    morning = page.locator("section.morning")
    assert morning.locator("h2").inner_text() == words["title"]
    state = morning.locator(".morning-state.good")
    assert state.inner_text().strip() == words["completed"].format(date=run.scan_date)
    queued = morning.locator(".morning-figures li").nth(1)
    assert queued.locator("strong").inner_text() == str(run.reminders_queued)
    # Nothing sticks out of a phone's screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[device]["width"]
    page.screenshot(path=artifacts / f"morning-{language}-{device}.png", full_page=True)

    queued.locator("a").click()
    page.wait_for_url("**/admin/reminders/reminder/?scan_run__id__in=*")
    assert page.locator("#result_list tbody tr").count() == min(run.reminders_queued, 100)
    context.close()
