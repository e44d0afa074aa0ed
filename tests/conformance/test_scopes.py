"""Authorization against each host: no user writes, or receives, a row of a scope it does not hold.

The property is tests/sync/test_authorization.py's.
"""

from tests.sync.test_authorization import *  # noqa: F403
