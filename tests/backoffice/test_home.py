import pytest


@pytest.mark.django_db
def test_home_page_links_to_the_admin_and_the_api_docs(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/admin/"' in body
    assert 'href="/api/docs/"' in body


@pytest.mark.django_db
def test_home_page_has_a_card_for_investors_pointing_at_their_own_plans(client):
    body = client.get("/").content.decode()
    card = body.split("<h2>For investors</h2>", 1)[1].split("</div>", 1)[0]
    assert '<a href="/me/">Open my plans</a>' in card
