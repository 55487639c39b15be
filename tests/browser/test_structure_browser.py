"""A participant's morning, in a real browser: sign in, filter the overdue, call the most
urgent, log a promise, export the list, read it all in Hindi."""

import csv
import datetime as dt
import io

import pytest

from backoffice.lib.dates import business_today
from tests.factories import InvestorFactory, make_plan, participant

PASSWORD = "correct-horse-battery"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def portfolio(transactional_db, login_throttling, settings):
    """A demo-like structure, dated from the real business day (the browser's clock is real)."""
    settings.DEBUG = False
    today = business_today()
    priya = participant("priya", name="Priya Sharma")
    investors = {}
    # (name, sponsor, days since the first due date: grace ends 19 days after it)
    for name, sponsor, days_ago, language in [
        ("Asha Verma", None, 10, "hi"),  # 9 days left
        ("Bina Shah", "Asha Verma", 18, "en"),  # 1 day left
        ("Chetan Rao", None, 25, "en"),  # deadline passed 6 days ago
        ("Dev Kumar", "Bina Shah", -10, "en"),  # on track
    ]:
        investor = InvestorFactory(
            name=name,
            sponsor=investors[sponsor] if sponsor else priya,
            language=language,
            messenger="",
        )
        first_due = today - dt.timedelta(days=days_ago)
        make_plan(investor=investor, first_due_date=first_due, today=first_due)
        investors[name] = investor
    return {"today": today, "priya": priya, **investors}


def row_names(page) -> list[str]:
    return page.locator("#structure-rows tbody tr a.name").all_inner_texts()


def test_a_participant_finds_the_most_urgent_client_logs_a_promise_exports_and_reads_hindi(
    portfolio, live_server, chromium, artifacts
):
    # The database first: the (session-wide) live server is then stopped before the test
    # database is dropped, and holds no connection to it by then.
    context = chromium.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()

    # Sign in: the Structure asks for it first.
    page.goto(f"{live_server.url}/structure/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "priya")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/structure/")
    assert page.locator("[data-summary=overdue-clients]").inner_text() == "3"

    # Filter "Overdue payments": the most urgent first.
    page.select_option("#id_overdue", "true")
    page.click("text=Show")
    page.wait_for_url("**overdue=true**")
    assert row_names(page) == ["Chetan Rao", "Bina Shah", "Asha Verma"]
    whatsapp = page.locator("tr", has_text="Asha Verma").locator("[data-contact=tel]")
    assert whatsapp.get_attribute("href").startswith("tel:+")
    page.screenshot(path=artifacts / "structure-desktop.png", full_page=True)

    phone = chromium.new_context(viewport=PHONE, storage_state=context.storage_state())
    small = phone.new_page()
    small.goto(page.url)
    assert row_names(small) == ["Chetan Rao", "Bina Shah", "Asha Verma"]
    small.screenshot(path=artifacts / "structure-phone.png", full_page=True)
    # On a phone the first client is on the first screen, and contact chips are finger-sized.
    first_row = small.locator("table.rows tbody tr").first.bounding_box()
    print("phone: first client at", first_row["y"], "px of", PHONE["height"])
    assert first_row["y"] + 60 < PHONE["height"]
    chips = small.locator(".contacts a")
    heights = [chips.nth(i).bounding_box()["height"] for i in range(chips.count())]
    assert heights and min(heights) >= 44, heights
    phone.close()

    # Open Bina (one day left) and log a promise to pay today.
    page.click("text=Bina Shah")
    page.wait_for_url("**/structure/investors/**")
    assert page.locator("h1").inner_text() == "Bina Shah"
    page.check("input[name=outcome][value=promised]")
    page.fill("input[name=promised_on]", portfolio["today"].isoformat())
    page.fill("input[name=promised_amount]", "300.00")
    page.fill("textarea[name=note]", "Will pay at the branch today.")
    page.click("text=Log the contact")
    page.wait_for_load_state()
    assert page.locator(".messages").inner_text() == "The contact is logged."
    assert "promise pending" in page.locator("#contact-entries").inner_text()

    # Back on the list: the pending promise waits below the others, with its outcome shown.
    page.goto(f"{live_server.url}/structure/?overdue=true")
    assert row_names(page) == ["Chetan Rao", "Asha Verma", "Bina Shah"]
    assert "promised to pay" in page.locator("tr", has_text="Bina Shah").inner_text()

    # Export exactly this list.
    with page.expect_download() as download:
        page.click("[data-export]")
    exported = download.value
    exported.save_as(artifacts / "structure.csv")
    rows = list(csv.DictReader(io.StringIO((artifacts / "structure.csv").read_text())))
    assert [row["name"] for row in rows] == ["Chetan Rao", "Asha Verma", "Bina Shah"]
    assert rows[2]["last_contact_outcome"] == "promised"

    # Switch to Hindi.
    with page.expect_navigation():
        page.select_option("select[name=language]", "hi")
    assert page.locator("html").get_attribute("lang") == "hi"
    assert page.locator("label[for=id_overdue]").inner_text() == "बकाया भुगतान"
    assert row_names(page) == ["Chetan Rao", "Asha Verma", "Bina Shah"]
    page.screenshot(path=artifacts / "structure-hindi.png", full_page=True)
    context.close()

    for name in ("structure-desktop.png", "structure-phone.png", "structure-hindi.png"):
        assert (artifacts / name).stat().st_size > 10_000
