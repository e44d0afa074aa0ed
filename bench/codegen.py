"""Codegen time against `drizzle-kit pull`, side by side on one synthetic database.

    python bench/codegen.py [--tables 300] [--columns 10] [--runs 3]

Builds a schema of `tables` × `columns` (3,000 columns by default) in a fresh
database, then times, as subprocesses started the same way, our full output
(`drizzlesync generate`: both schemas, sync-meta and client migrations) and
drizzle-kit's one schema (`drizzle-kit pull`, installed from npm into
bench/node by this script). Prints the medians and their ratio.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from alembic_drizzlesync import localdb

NODE_DIR = Path(__file__).parent / "node"
COLUMN_TYPES = (
    "text NOT NULL DEFAULT ''",
    "integer",
    "numeric(10, 2)",
    "boolean NOT NULL DEFAULT false",
    "timestamptz NOT NULL DEFAULT now()",
    "jsonb",
    "uuid DEFAULT gen_random_uuid()",
    "varchar(50)",
    "date",
    "text[]",
)


def synthetic_schema(tables: int, columns: int) -> str:
    """`tables` tables of `columns` columns: a bigint identity key, a foreign key, an index each."""
    statements = []
    for t in range(tables):
        body = ["id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
        body += [f"c{c} {COLUMN_TYPES[c % len(COLUMN_TYPES)]}" for c in range(1, columns - 1)]
        body.append(f"parent_id bigint REFERENCES t{t - 1} (id)" if t else "parent_id bigint")
        statements.append(f"CREATE TABLE t{t} ({', '.join(body)});")
        statements.append(f"CREATE INDEX t{t}_c1_idx ON t{t} (c1);")
    return "\n".join(statements)


def drizzle_kit() -> list[str]:
    """The pinned drizzle-kit, installed with `npm ci` on first use."""
    binary = NODE_DIR / "node_modules" / "drizzle-kit" / "bin.cjs"
    if not binary.exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    return ["node", str(binary)]


def timed(command: list[str], out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([*command, "--out", str(out)], check=True, capture_output=True, cwd=out.parent)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=300)
    parser.add_argument("--columns", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    kit = drizzle_kit()
    with localdb.temporary_database(localdb.find_server(), "drizzlesync_bench") as url:
        with psycopg.connect(localdb.libpq_url(url), autocommit=True) as conn:
            conn.execute(synthetic_schema(args.tables, args.columns).encode())
        libpq = localdb.libpq_url(url)
        ours = [str(Path(sys.executable).parent / "drizzlesync"), "generate", "--url", libpq]
        theirs = [*kit, "pull", "--dialect", "postgresql", "--url", libpq]
        with tempfile.TemporaryDirectory() as scratch:
            results: dict[str, list[float]] = {"drizzlesync generate": [], "drizzle-kit pull": []}
            for _ in range(args.runs):
                results["drizzlesync generate"].append(timed(ours, Path(scratch) / "ours"))
                results["drizzle-kit pull"].append(timed(theirs, Path(scratch) / "theirs"))
    medians = {name: statistics.median(times) for name, times in results.items()}
    print(f"schema: {args.tables} tables, {args.tables * args.columns} columns; median of {args.runs} runs")
    for name, median in medians.items():
        print(f"  {name:<22} {median:7.2f} s")
    ratio = medians["drizzle-kit pull"] / medians["drizzlesync generate"]
    print(f"  drizzle-kit pull takes {ratio:.1f}× as long as our full output")


if __name__ == "__main__":
    main()
