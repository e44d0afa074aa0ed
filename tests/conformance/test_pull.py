"""Pull against each host: bootstrap, paging, deletes, scope moves, gap-freedom, resets.

The tests are those of tests/sync/test_pull.py, which speak only HTTP and SQL.
"""

from tests.sync.test_pull import *  # noqa: F403
