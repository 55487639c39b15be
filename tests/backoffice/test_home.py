import pytest


@pytest.mark.django_db
def test_home_page_links_to_the_admin_and_the_api_docs(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'href="/admin/"' in body
    assert 'href="/api/docs/"' in body
