"""The example PWA in real Chromium: browser ↔ Postgres, two devices offline, an offline reload.

Each test runs one scenario of tests/e2e/browser/scenarios.mjs (playwright-core driving Debian's
Chromium) against the demo's one-origin host on the test's own database; the scenario checks the
page and Postgres, and asks the test on stdout to stop or restart the host. Here the outcome in
Postgres is checked once more, by another client than the one the scenario used.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time

from sqlalchemy import text

from tests.e2e.conftest import BROWSER, DemoHost

SCENARIO_TIMEOUT_S = 180
SCREENSHOT = BROWSER.parents[2] / "docs" / "pwa.png"


def run_scenario(node: str, host: DemoHost, scenario: str, *extra: str) -> str:
    """Runs a scenario to its end, serving its @server requests; returns its output."""
    command = [node, str(BROWSER / "scenarios.mjs"), scenario, host.origin, host.postgres_url, *extra]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    # Read on threads: Chromium's helper processes may keep the pipes open after Node has exited,
    # so the end is the process exiting, not the end of its output.
    lines: queue.Queue[str] = queue.Queue()
    errors: list[str] = []
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or ()], daemon=True).start()
    threading.Thread(target=lambda: errors.extend(process.stderr or ()), daemon=True).start()
    output: list[str] = []
    deadline = time.monotonic() + SCENARIO_TIMEOUT_S
    while process.poll() is None or not lines.empty():
        assert time.monotonic() < deadline, f"{scenario} took over {SCENARIO_TIMEOUT_S} s:\n{''.join(output)}"
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        output.append(line)
        if line.startswith("@server "):
            host.stop() if line.split()[1] == "stop" else host.start()
            process.stdin.write("done\n")
            process.stdin.flush()
    if process.poll() is None:
        process.kill()
    time.sleep(0.2)  # the rest of stderr
    assert process.returncode == 0, f"{scenario} failed:\n{''.join(output)}\n{''.join(errors)}"
    return "".join(output)


def titles(host: DemoHost) -> dict[str, bool]:
    with host.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT title, done FROM todos JOIN teams ON teams.id = team_id WHERE teams.name = :t"),
            {"t": "Demo team"},
        )
        return {row.title: row.done for row in rows}


def test_browser_writes_reach_postgres_and_back(node: str, demo_host: DemoHost) -> None:
    run_scenario(node, demo_host, "roundTrip")
    assert titles(demo_host) == {
        "Try the demo": True,
        "Write the release notes": False,
        "Book the venue": True,
    }


def test_projects_moves_and_renames_sync_column_by_column(node: str, demo_host: DemoHost) -> None:
    before = SCREENSHOT.stat().st_mtime_ns if SCREENSHOT.exists() else 0
    run_scenario(node, demo_host, "projects", str(SCREENSHOT))
    with demo_host.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT title, projects.name AS project FROM todos JOIN teams ON teams.id = todos.team_id"
                " LEFT JOIN projects ON projects.id = project_id WHERE teams.name = 'Demo team'"
            )
        )
        placed = {row.title: row.project for row in rows}
    launch = {"Try the demo": "Launch", "Write the launch plan": "Launch"}
    assert placed == {**launch, "Order stickers and pins": None}
    assert SCREENSHOT.stat().st_mtime_ns > before


def test_scope_changes_remove_rows_and_refuse_writes(node: str, demo_host: DemoHost) -> None:
    run_scenario(node, demo_host, "scope")
    [ada] = [user for user in demo_host.users if user["name"] == "Ada Lovelace"]
    with demo_host.engine.connect() as conn:
        held = conn.execute(
            text("SELECT count(*) FROM memberships WHERE user_id = :u"), {"u": ada["id"]}
        ).scalar_one()
        refused = conn.execute(
            text("SELECT count(*) FROM todos WHERE title = 'Written after the removal'")
        ).scalar_one()
    assert (held, refused) == (0, 0)


def test_two_devices_offline_converge_to_the_servers_rows(node: str, demo_host: DemoHost) -> None:
    run_scenario(node, demo_host, "twoDevices")
    expected = {"Try the demo": False, "Shared two": True, "Ada offline": False, "Grace offline": False}
    assert titles(demo_host) == expected


def test_an_offline_reload_keeps_pending_writes_that_sync_later(node: str, demo_host: DemoHost) -> None:
    output = run_scenario(node, demo_host, "offlineReload")
    assert "@server stop" in output and "@server start" in output
    assert set(titles(demo_host)) == {
        "Try the demo",
        "Before the reload",
        "Written offline",
        "Written after the reload",
    }
