"""Findings 5 (a policy the pages pass) and 10 (small faults a user meets)."""

import re

import pytest
from django.contrib.staticfiles import finders

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(?!\s*</script>)", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE)


def test_every_visit_finds_a_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
    assert finders.find("favicon.svg")
    assert 'rel="icon"' in client.get("/accounts/login/").content.decode()


def test_switching_language_after_a_refused_contact_form_returns_to_the_investor_page(
    root_browser, structure
):
    url = f"/structure/investors/{structure.bina.pk}/"
    refused = root_browser.post(url + "contacts/", {"outcome": "promised"})
    assert refused.status_code == 400
    next_url = re.search(r'name="next" value="([^"]*)"', refused.content.decode()).group(1)
    assert next_url == url
    switched = root_browser.post("/i18n/setlang/", {"language": "hi", "next": next_url})
    assert switched.status_code == 302
    assert root_browser.get(switched["Location"]).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/", "/accounts/login/", "/structure/", "/structure/?overdue=true", "investor", "/admin/"],
)
def test_the_pages_carry_no_inline_script_or_handler(client, structure, path):
    client.force_login(structure.root.user)
    if path == "investor":
        path = f"/structure/investors/{structure.bina.pk}/"
    if path == "/admin/":
        structure.root.user.is_staff = True
        structure.root.user.save()
    response = client.get(path, follow=True)
    body = response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert not INLINE_SCRIPT.findall(body)
    assert not INLINE_HANDLER.findall(body)


def test_the_api_docs_load_their_script_from_a_file(admin_client):
    response = admin_client.get("/api/docs/")
    body = response.content.decode()
    assert response.status_code == 200
    assert not INLINE_SCRIPT.findall(body)
