"""The client engine against each host: two Node devices of one team converge through the Worker
under workerd as through the ASGI app (the scenario and its checks are tests/client's)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from alembic_drizzlesync.sync import Limits
from tests.client import test_long_offline as long_offline
from tests.client.conftest import node22
from tests.client.test_bigint_keys import ids_come_back_exactly
from tests.client.test_two_devices import test_two_devices_converge_with_the_server
from tests.conformance.hosts import Settings, WorkerHost

__all__ = ["node22", "test_two_devices_converge_with_the_server"]


@pytest.fixture
def sync_server(server_url: str) -> Iterator[str]:
    """The host under test, where tests/client starts `drizzlesync serve`."""
    yield server_url


# The hosts' default limits, as `drizzlesync serve` has them: the suite's own are far smaller.
@pytest.mark.parametrize("settings", [Settings(limits=Limits())])
@pytest.mark.parametrize("host", ["worker"], indirect=True)
@pytest.mark.parametrize("expire_on", ["push:4", "pull:2"])
def test_a_device_offline_for_long_catches_up_through_the_worker(
    synced_db: str, sync_server: str, node22: str, tmp_path: Path, expire_on: str
) -> None:
    """tests/client's long-offline device against the Worker: its 413 (with `maxBytes`), its 401 on
    an expired token in the middle of the catch-up, and its compacted-log bootstrap are the Worker's
    own code, which tests/client (against `drizzlesync serve`) does not reach."""
    run = long_offline.test_a_device_offline_for_long_catches_up
    run(synced_db, sync_server, node22, tmp_path, expire_on)


def test_ids_past_2_53_come_back_exactly_through_the_worker(
    example_copy: Path, db_url: str, tmp_path: Path, node22: str, worker_host: WorkerHost
) -> None:
    """tests/client's 64-bit ids against the Worker, which reads a push's numbers by their source
    text (its own code) before the database gets them."""
    settings = Settings(limits=Limits())
    ids_come_back_exactly(
        example_copy, db_url, tmp_path, node22, lambda url: worker_host.serve(url, settings)
    )
