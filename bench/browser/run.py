"""The example PWA in Chromium, side by side in one run; prints figures and ratios.

    python bench/browser/run.py [--rows 100000] [--large 1000000] [--samples 20] [--database-url URL]
                                [--web-dist DIR] [--persistent]

Serves the built PWA (example_project/web/dist: `npm run build:web` first) with the Python sync
host on one origin, as `./scripts/demo` does, on a fresh migrated database, and drives it with
bench/browser/bench.mjs (playwright-core, Debian's Chromium):

1. bootstrap of `--rows` todos into OPFS through the engine (sign-in to the first completed
   sync; the server's pull pages of 5,000 included), against inserting the same rows raw into a
   table of the same DDL (primary key, team index) in the same OPFS database file in one
   transaction, from a new Worker through the open and the table's DDL (target: at most 2.0x),
   both sides timed on the page; against the engine's SQL and Worker messages alone, and
   against the server's share alone (the same pages over HTTP, nothing applied); with the client
   side of the bootstrap apart (HTTP, JSON.parse/stringify, Worker messages, per-page batch times);
2. bootstrap of `--large` todos through the engine (target: under 60 s), in rows/s;
3. the time from a todo added on one device to its appearance on another (p50, p95), with the
   app's schedule (a push 25 ms after a write, a pull every 5 s).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example_project"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(EXAMPLE))

from alembic_drizzlesync import localdb  # noqa: E402
from tests.e2e.conftest import free_port  # noqa: E402


def demo_module() -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("drizzlesync_example_demo", EXAMPLE / "demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def migrate(url: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(EXAMPLE / "alembic.ini"), "upgrade", "head"],
        cwd=EXAMPLE,
        env={**os.environ, "DATABASE_URL": url},
        check=True,
        capture_output=True,
    )


def user(conn: Any, handle: str, teams: list[tuple[str, int]]) -> dict[str, Any]:
    """A user in new teams, each with that many todos; returned as the sign-in picker lists it."""
    email = f"{handle}@bench.example.com"
    user_id = conn.execute(
        text("INSERT INTO users (email, name) VALUES (:e, :n) RETURNING id"), {"e": email, "n": handle}
    ).scalar_one()
    for name, todos in teams:
        team = conn.execute(text("SELECT id FROM teams WHERE name = :n"), {"n": name}).scalar()
        if team is None:
            insert = text("INSERT INTO teams (name) VALUES (:n) RETURNING id")
            team = conn.execute(insert, {"n": name}).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO todos (team_id, title, done) SELECT :t, 'todo number ' || i, i % 3 = 0"
                    " FROM generate_series(1, :n) AS i"
                ),
                {"t": team, "n": todos},
            )
        join = text("INSERT INTO memberships (user_id, team_id) VALUES (:u, :t)")
        conn.execute(join, {"u": user_id, "t": team})
    return {"id": str(user_id), "name": handle, "email": email, "teams": [name for name, _ in teams]}


def run_browser(origin: str, config: dict[str, Any]) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is not on PATH: source scripts/bootstrap.sh"
    result = subprocess.run(
        [node, str(ROOT / "bench" / "browser" / "bench.mjs"), origin, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if result.returncode != 0:
        raise SystemExit(f"bench.mjs failed:\n{result.stdout}\n{result.stderr}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def client_side(client: dict[str, Any]) -> None:
    """The instrumented bootstrap's client side (bench.mjs `breakdown`), in seconds."""
    print(
        f"  client side, {client['pages']} pages: start to the first pull {client['startup']:.2f} s; "
        f"HTTP in flight {client['httpWall']:.2f} s; JSON.parse {client['parse']:.2f} s; "
        f"JSON.stringify {client['stringify']:.2f} s; "
        f"page batches in the Worker {client['pageBatches']:.2f} s; "
        f"other Worker messages ({client['messages']}) {client['otherMessages']:.2f} s; "
        f"last page's body to the end {client['lastBodyToEnd']:.2f} s; "
        f"no Worker message outstanding after the first pull {client['workerIdle']:.2f} s"
    )
    print(f"  the other Worker messages by statement: {'; '.join(client['bySql'])}")
    print(
        "  the start (ms): until the Worker is asked to open the database, the open (SQLite WASM, the OPFS "
        f"pool), from there to the first pull: {client['startupParts']}"
    )
    messages = "; ".join(client["startMessages"])
    print(f"  the start's Worker messages (posted ms after the click + round trip ms): {messages}")
    print(f"  a page's batch in the Worker (ms), mean of each tenth: {tenths(client['pageBatchMs'])}")
    print(f"  a page's pull request to its body (ms), mean of each tenth: {tenths(client['pullMs'])}")


def tenths(times: list[int]) -> list[int]:
    """The mean of each tenth of `times`, in order: how a figure moves as the bootstrap proceeds."""
    size = max(1, len(times) // 10)
    return [round(sum(times[i : i + size]) / len(times[i : i + size])) for i in range(0, len(times), size)]


def seeded(engine: Engine, **teams: list[tuple[str, int]]) -> dict[str, dict[str, Any]]:
    started = time.perf_counter()
    with engine.begin() as conn:
        users = {handle: user(conn, handle, wanted) for handle, wanted in teams.items()}
    print(f"  (seeded in {time.perf_counter() - started:.1f} s)")
    return users


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000, help="0 skips the large bootstrap")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument(
        "--persistent",
        action="store_true",
        help="bootstrap in a browser profile on disk (as an installed app) instead of an incognito"
        " context, whose OPFS is in memory behind a round trip to the browser process per write",
    )
    parser.add_argument("--database-url")
    parser.add_argument(
        "--web-dist",
        type=Path,
        default=EXAMPLE / "web" / "dist",
        help="another build of the PWA to measure (an alternative's), instead of web/dist",
    )
    args = parser.parse_args()
    if not (args.web_dist / "index.html").exists():
        raise SystemExit(f"no PWA build in {args.web_dist}: run `npm run build:web` first")

    server = args.database_url or localdb.find_server()
    url = localdb.create_database(server, prefix="drizzlesync_bench_browser")
    try:
        migrate(url)
        engine = create_engine(url)
        demo = demo_module()
        # The bench users see an empty team first ("A …" sorts before the rest), so the page renders
        # none of the bootstrapped rows.
        empty = ("A quiet team", 0)
        print(f"Seeding {args.rows:,} todos (and {args.large:,}) ...")
        users = seeded(
            engine,
            bootstrap=[empty, ("Bench team", args.rows)],
            large=[empty, ("Large team", args.large)],
            writer=[("Latency team", 1)],
            reader=[("Latency team", 1)],
        )
        app = demo.demo_app(url, list(users.values()), web_dist=args.web_dist)
        host = demo.serve_in_background(app, port := free_port())
        origin = f"http://127.0.0.1:{port}"

        small = run_browser(
            origin, {"bootstrapUser": users["bootstrap"], "raw": True, "persistent": args.persistent}
        )
        boot = small["bootstrap"]
        assert boot["count"] == args.rows, f"bootstrapped {boot['count']} of {args.rows} rows"
        profile = "a profile on disk" if args.persistent else "an incognito context (OPFS in memory)"
        print(
            f"\nChromium {small['chromium']}, OPFS (opfs-sahpool) in {profile}, "
            "the Python host on this machine"
        )
        print(
            f"Bootstrap of {args.rows:,} todos through the engine: {boot['seconds']:.2f} s "
            f"({args.rows / boot['seconds']:,.0f} rows/s)"
        )
        parts = boot["rawParts"]
        print(
            f"  raw, same table and indexes, one transaction, one message: {boot['oneMessage']:.2f} s"
            f"  -> engine / raw = {boot['seconds'] / boot['oneMessage']:.2f}x (target <= 2.0x)"
        )
        print(
            f"    raw's parts: new Worker, SQLite WASM, OPFS pool and open {parts['open']:.2f} s"
            f" ({parts['attempts']} attempt(s)), the table's DDL {parts['ddl']:.2f} s,"
            f" the rows {parts['insert']:.2f} s (engine / the rows alone ="
            f" {boot['seconds'] / parts['insert']:.2f}x, how the bench measured before)"
        )
        print(
            f"  the engine's SQL and Worker messages alone (pages of 5,000, five a transaction, JSON ready): "
            f"{boot['engineSql']:.2f} s ({boot['engineSql'] / boot['oneMessage']:.1f}x raw)"
        )
        print(
            f"  the pages over HTTP alone (pages of 5,000 fetched and parsed, nothing applied): "
            f"{boot['pullOnly']:.2f} s ({boot['pullOnly'] / boot['oneMessage']:.1f}x raw)"
        )
        client_side(boot["client"])
        if args.large:
            config = {"bootstrapUser": users["large"], "raw": False, "persistent": args.persistent}
            large = run_browser(origin, config)["bootstrap"]
            print(
                f"Bootstrap of {args.large:,} todos through the engine: {large['seconds']:.1f} s "
                f"({args.large / large['seconds']:,.0f} rows/s; target < 60 s)"
            )
            client_side(large["client"])
        if args.samples:
            pair = [users["writer"], users["reader"]]
            latency = run_browser(
                origin, {"latencyUsers": pair, "samples": args.samples, "intervalMs": 5000}
            )["latency"]
            print(
                f"Write on one device -> shown on the other ({latency['samples']} writes, 5 s pulls): "
                f"p50 {latency['p50']:.2f} s, p95 {latency['p95']:.2f} s, max {latency['max']:.2f} s"
            )
        host.should_exit = True
        engine.dispose()
    finally:
        localdb.drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
