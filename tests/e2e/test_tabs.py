"""Several tabs of one device in real Chromium: one leader, every tab's writes synced once, and a
handover when the leader tab closes that loses no write.

tests/e2e/browser/tabs.mjs drives three pages of one browser context (playwright-core, Debian's
Chromium) against the demo's one-origin host; here Postgres is checked once more by another client.
"""

from __future__ import annotations

import subprocess
import tempfile

from sqlalchemy import text

from tests.e2e.conftest import BROWSER, DemoHost

SCENARIO_TIMEOUT_S = 180


def test_tabs_share_one_leader_and_hand_over_without_losing_a_write(node: str, demo_host: DemoHost) -> None:
    # Output to a file, not a pipe: Chromium's helper processes may hold a pipe open after Node exits.
    with tempfile.TemporaryFile(mode="w+") as output:
        result = subprocess.run(
            [node, str(BROWSER / "tabs.mjs"), demo_host.origin, demo_host.postgres_url],
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=SCENARIO_TIMEOUT_S,
        )
        output.seek(0)
        log = output.read()
    assert result.returncode == 0, f"tabs.mjs failed:\n{log}"
    assert "tabs: ok" in log
    with demo_host.engine.connect() as conn:
        written = text("SELECT title, count(*) FROM todos WHERE title <> 'Try the demo' GROUP BY title")
        rows = conn.execute(written)
        counts = {title: count for title, count in rows}
    assert counts == {
        "From tab 1": 1,
        "From tab 2": 1,
        "From tab 3": 1,
        "Pending at the handover": 1,
        "Written as the leader closes": 1,
        "After the handover": 1,
    }
