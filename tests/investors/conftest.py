import pytest
from rest_framework.test import APIClient

from tests.factories import UserFactory
from tests.structure.conftest import root_client, structure, today  # noqa: F401


@pytest.fixture
def bina_user(structure):  # noqa: F811
    """Bina (level 2 under the participant, 1 day left) signs in to her own plans."""
    user = UserFactory(username="bina")
    structure.bina.login = user
    structure.bina.save(update_fields=["login"])
    return user


@pytest.fixture
def bina_client(bina_user):
    client = APIClient()
    client.force_authenticate(bina_user)
    return client
