"""The dashboard on the demo data, in a real browser: a participant and the admin, on a
laptop and on a phone, in English and in Hindi. The charts draw (Chart.js from our own static
files), with no console error and no Content-Security-Policy violation."""

import re

import pytest
from django.core.management import call_command

from backoffice.lib.dates import business_today
from dashboard.snapshots import snapshots_backfill, snapshots_write
from structure import demo

LAPTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
CHARTS = 3
TITLES = {"en": "Dashboard", "hi": "डैशबोर्ड"}
ACTIVITY = {"en": "Client activity", "hi": "ग्राहक गतिविधि"}
# The elements (outside a scrolling box) whose right edge lies past the screen's.
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll("body *")]
  .filter(e => !e.closest(".scroll") && e.getBoundingClientRect().right
               > document.documentElement.clientWidth + 1)
  .map(e => e.tagName + "." + e.className)"""

# Pixels painted in the canvas's last three columns: a value label cut by its right edge.
PAINTED_AT_RIGHT_EDGE = """c => {
  const w = 3, data = c.getContext("2d").getImageData(c.width - w, 0, w, c.height).data;
  return data.filter((v, i) => i % 4 === 3 && v > 0).length;
}"""


@pytest.fixture
def demo_book(transactional_db, login_throttling, settings):
    settings.DEBUG = False
    call_command("load_demo", "--investors", "150")
    today = business_today()
    snapshots_backfill(today=today)
    snapshots_write(today=today)
    return today


def _sign_in(browser, live_server, username, password, language, viewport):
    context = browser.new_context(viewport=viewport)
    host = live_server.url.split("//")[1].split(":")[0]
    context.add_cookies(
        [{"name": "django_language", "value": language, "domain": host, "path": "/"}]
    )
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}/accounts/login/?next=/dashboard/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/dashboard/")
    return context, page, problems


def _charts_drawn(page) -> None:
    """Every chart canvas drawn by Chart.js, with pixels on it."""
    page.wait_for_selector(f"canvas[data-drawn=true] >> nth={CHARTS - 1}")
    canvases = page.locator("canvas[data-chart]")
    assert canvases.count() == CHARTS
    for n in range(CHARTS):
        box = canvases.nth(n).bounding_box()
        assert box["width"] > 200 and box["height"] > 100, box
        painted = canvases.nth(n).evaluate(
            "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
            ".some((v, i) => i % 4 === 3 && v > 0)"
        )
        assert painted


@pytest.mark.parametrize(
    "who,username,password",
    [
        ("participant", demo.DEMO_PARTICIPANT, demo.PARTICIPANT_PASSWORD),
        ("admin", demo.ADMIN_USERNAME, demo.ADMIN_PASSWORD),
    ],
)
def test_the_dashboard_draws_its_charts_for_a_participant_and_the_admin(
    demo_book, live_server, chromium, artifacts, who, username, password
):
    for language in ("en", "hi"):
        for name, viewport in (("laptop", LAPTOP), ("phone", PHONE)):
            context, page, problems = _sign_in(
                chromium, live_server, username, password, language, viewport
            )
            assert page.locator("html").get_attribute("lang") == language
            assert page.locator("h1").inner_text() == TITLES[language]
            assert page.locator("#segments").inner_text() == ACTIVITY[language]
            _charts_drawn(page)
            # Each chart has its table; the grid has its five cells.
            assert page.locator("table caption").count() >= CHARTS + 1
            assert page.locator("td[data-segment]").count() == 5
            if who == "admin":
                assert page.locator("table[data-table=ranking] tbody tr").count() >= 3
            else:
                link = page.locator("tr[data-bucket] a").first.get_attribute("href")
                assert re.search(r"bucket=", link)
            page.screenshot(
                path=artifacts / f"dashboard-{who}-{language}-{name}.png", full_page=True
            )
            trend = page.locator("canvas[data-chart=chart-trend]")
            trend.screenshot(path=artifacts / f"dashboard-trend-{who}-{language}-{name}.png")
            # The last month's value label whole, not cut by the canvas's right edge.
            assert trend.evaluate(PAINTED_AT_RIGHT_EDGE) == 0
            # Nothing wider than the screen on a phone.
            wide = page.evaluate(WIDER_THAN_SCREEN)
            assert wide == [], wide
            assert problems == [], problems
            context.close()
