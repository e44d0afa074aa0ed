"""Wire forms against each host: every codec's value round-trips through push and pull.

The tests are those of tests/sync/test_wire.py, which speak only HTTP and SQL.
"""

from tests.sync.test_wire import *  # noqa: F403
