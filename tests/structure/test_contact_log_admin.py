import datetime as dt

from structure.services import contact_log_record


def test_admins_read_the_contact_log_with_the_promise_state(client, structure, staff):
    contact_log_record(
        investor=structure.asha,
        author=structure.root.user,
        outcome="promised",
        promised_on=dt.date(2026, 3, 12),
        promised_amount="300.00",
        note="Salary on the 12th",
        today=dt.date(2026, 3, 10),
    )
    client.force_login(staff)
    listing = client.get("/admin/structure/contactlogentry/")
    assert listing.status_code == 200
    body = listing.content.decode()
    assert "Asha Verma" in body
    assert "promise broken" in body
    assert "2026-03-12" in body
    search = client.get("/admin/structure/contactlogentry/?q=Salary")
    assert "Asha Verma" in search.content.decode()


def test_the_contact_log_is_not_written_from_the_admin(client, structure, staff):
    client.force_login(staff)
    assert client.get("/admin/structure/contactlogentry/add/").status_code == 403
