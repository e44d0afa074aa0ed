"""Convergence against each host: writers, long transactions, lost and repeated responses, compaction.

The property is tests/sync/test_convergence.py's.
"""

from tests.sync.test_convergence import *  # noqa: F403
