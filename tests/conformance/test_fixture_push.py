"""Push into the broad fixture schema against each host: NOT NULL domains, partitions, hostile values.

The tests are those of tests/sync/test_fixture_push.py, which speak only HTTP and SQL.
"""

from tests.sync.test_fixture_push import *  # noqa: F403
