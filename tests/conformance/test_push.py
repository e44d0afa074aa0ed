"""Push against each host: exactly once, last writer wins, atomic transactions, rejections, 409/403/503.

The tests are those of tests/sync/test_push.py, which speak only HTTP and SQL.
"""

from tests.sync.test_push import *  # noqa: F403
