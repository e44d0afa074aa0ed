"""The example PWA in real Chromium: browser ↔ Postgres, two devices offline, an offline reload.

Each test runs one scenario of tests/e2e/browser/scenarios.mjs (playwright-core driving Debian's
Chromium) against the demo's one-origin host on the test's own database; the scenario checks the
page and Postgres, and asks the test on stdout to stop or restart the host. Here the outcome in
Postgres is checked once more, by another client than the one the scenario used.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import text

from tests.e2e.conftest import BROWSER, ROOT, DemoHost
from tests.support import EXAMPLE, EXAMPLE_HEAD

SCENARIO_TIMEOUT_S = 180
SCREENSHOT = BROWSER.parents[2] / "docs" / "pwa.png"

# The next schema version, for this test only: a column the new build knows and the old does not.
NEXT_REVISION = '''
"""todos get a priority"""
import sqlalchemy as sa
from alembic import op
import alembic_drizzlesync.ops  # noqa: F401

revision = "priority"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("todos", sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
    op.bump_sync_schema_version(2)


def downgrade() -> None:
    op.revert_sync_schema_version(2)
    op.drop_column("todos", "priority")
'''


def run_scenario(
    node: str,
    host: DemoHost,
    scenario: str,
    *extra: str,
    actions: Mapping[str, Callable[[], None]] | None = None,
) -> str:
    """Runs a scenario to its end, serving its @server requests (stop, start, or one of `actions`);
    returns its output."""
    served = {"stop": host.stop, "start": host.start, **(actions or {})}
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
            served[line.split()[1]]()
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


def test_a_change_the_server_cannot_take_is_given_up_and_the_rest_sync(
    node: str, demo_host: DemoHost
) -> None:
    run_scenario(node, demo_host, "refusedChange")
    assert titles(demo_host) == {
        "Try the demo": False,
        "Before the refusal": False,
        "After the refusal": False,
    }


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


def deploy_next_version(host: DemoHost, tmp_path: Path) -> None:
    """What a deploy of the next schema version does, on a copy of the example: the migration runs
    (regenerating the copy's client files), the PWA is built from the copy into its own dist, and
    the host restarts serving that build. The committed example and its web/dist stay as they are."""
    copy = tmp_path / "example"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("node_modules", "dist", "__pycache__"))
    revision = copy / "migrations" / "versions" / "todo_priority.py"
    revision.write_text(NEXT_REVISION.format(head=EXAMPLE_HEAD))
    migrate = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(copy / "alembic.ini"), "upgrade", "head"],
        cwd=copy,
        env={**os.environ, "DATABASE_URL": host.url},
        capture_output=True,
        text=True,
    )
    assert migrate.returncode == 0, migrate.stderr
    generated = (copy / "web" / "src" / "db" / "generated" / "schema.sqlite.ts").read_text()
    assert "priority" in generated, "the migration did not regenerate the copy's client files"
    (copy / "web" / "node_modules").symlink_to(ROOT / "node_modules")
    vite = ROOT / "node_modules" / "vite" / "bin" / "vite.js"
    build = subprocess.run(
        [shutil.which("node") or "node", str(vite), "build", "--logLevel", "error"],
        cwd=copy / "web",
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    host.stop()
    host.web_dist = copy / "web" / "dist"
    host.start()


def test_a_schema_upgrade_keeps_and_pushes_pending_writes(
    node: str, demo_host: DemoHost, tmp_path: Path
) -> None:
    committed = sorted(path.name for path in (EXAMPLE / "web" / "dist" / "assets").iterdir())
    upgrade = {"upgrade": lambda: deploy_next_version(demo_host, tmp_path)}
    output = run_scenario(node, demo_host, "schemaUpgrade", actions=upgrade)
    assert "@server upgrade" in output
    with demo_host.engine.connect() as conn:
        version = conn.execute(text("SELECT max(version) FROM drizzlesync.schema_version")).scalar_one()
        rows = conn.execute(text("SELECT title, priority FROM todos WHERE title LIKE 'Written %'")).all()
    assert version == 2
    assert sorted(map(tuple, rows)) == [("Written after the update", 0), ("Written before the upgrade", 0)]
    assert sorted(path.name for path in (EXAMPLE / "web" / "dist" / "assets").iterdir()) == committed


def test_sign_out_in_one_tab_signs_out_every_tab(node: str, demo_host: DemoHost) -> None:
    run_scenario(node, demo_host, "signOutEveryTab")
    with demo_host.engine.connect() as conn:
        team = conn.execute(
            text(
                "SELECT teams.name FROM todos JOIN teams ON teams.id = team_id"
                " WHERE title = 'Written in tab 2 after the switch'"
            )
        ).scalar_one()
    assert team == "Other team"


def test_after_sign_out_offline_the_user_signs_in_again(node: str, demo_host: DemoHost) -> None:
    run_scenario(node, demo_host, "offlineSignIn")
    expected = {"Try the demo", "Before signing out", "Written after an offline sign-in"}
    assert set(titles(demo_host)) == expected


def test_what_is_typed_while_a_write_waits_is_kept_and_added(node: str, demo_host: DemoHost) -> None:
    run_scenario(node, demo_host, "typingWhileAWriteWaits")
    assert set(titles(demo_host)) == {"Try the demo", "Added while busy", "Typed meanwhile"}
