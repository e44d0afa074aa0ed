"""The client engine against each host: two Node devices of one team converge through the Worker
under workerd as through the ASGI app (the scenario and its checks are tests/client's)."""

from collections.abc import Iterator

import pytest

from tests.client.conftest import node22
from tests.client.test_two_devices import test_two_devices_converge_with_the_server

__all__ = ["node22", "test_two_devices_converge_with_the_server"]


@pytest.fixture
def sync_server(server_url: str) -> Iterator[str]:
    """The host under test, where tests/client starts `drizzlesync serve`."""
    yield server_url
