"""Wire forms against each host: every codec's value round-trips through push and pull.

The tests are those of tests/sync/test_wire.py, which speak only HTTP and SQL.
"""

import dataclasses

import pytest

from tests.conformance.hosts import Settings
from tests.sync.test_wire import *  # noqa: F403
from tests.sync.test_wire import BODY_LIMIT


@pytest.fixture
def settings() -> Settings:
    return dataclasses.replace(Settings(), limits=BODY_LIMIT)
