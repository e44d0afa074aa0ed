"""What bench/capture_instructions.py, bench/pull_instructions.py, bench/pull_page_instructions.py
and bench/push_instructions.py share: a private Postgres cluster made for the run (for all but the
first, one database per revision of the example: `--revision`, `--compare-revision`), and its
single-user backend run under `valgrind --tool=callgrind`, whose dumps are read back as
instruction totals, block by block. As root, the server binaries run as the OS user `postgres`
(initdb and postgres refuse root)."""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import psycopg

from bench.sync import migrate

Counted = TypeVar("Counted")


def literal(value: str) -> str:
    """`value` as an SQL string literal (the single-user backend takes no parameters)."""
    return "'" + value.replace("'", "''") + "'"


def run_as_postgres(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    return subprocess.run(command, check=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


def server_binaries(bindir: Path | None) -> Path:
    """The Postgres server binaries (`bindir`, else pg_config's); exits when valgrind is missing."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    if bindir is not None:
        return bindir
    found = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return Path(found.stdout.strip())


@contextmanager
def private_cluster(bindir: Path, work: Path) -> Iterator[str]:
    """A cluster in `work`/data (made on first use), started for the block with its Unix socket in
    `work` only: yields its libpq base (host, port, user)."""
    data = work / "data"
    if not data.exists():
        run_as_postgres(
            [str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            stdout=subprocess.DEVNULL,
        )
    options = f"-c listen_addresses='' -k {work} -p 5433"
    run_as_postgres(
        [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(work / "log"), "-o", options, "start"],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"host={work} port=5433 user=postgres"
    finally:
        run_as_postgres(
            [str(bindir / "pg_ctl"), "-D", str(data), "-w", "-m", "fast", "stop"], stdout=subprocess.DEVNULL
        )


def single_user_totals(
    bindir: Path, work: Path, database: str, text: str, collect: list[str], keep: Path | None = None
) -> list[int]:
    """Runs `text` in `database`'s single-user backend (the cluster in `work`/data, stopped) under
    callgrind with the `collect` options (which functions collect, when to dump), and returns each
    dump's instruction total in order. The dumps are removed, or copied to `keep` first."""
    out = work / f"cg-{database}"
    run_as_postgres(
        [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            *collect,
            str(bindir / "postgres"),
            "--single",
            "-D",
            str(work / "data"),
            database,
        ],
        input=text,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    totals = []
    for dump in sorted(glob.glob(f"{out}.*"), key=lambda name: int(name.rsplit(".", 1)[1])):
        match = re.search(r"^(?:totals|summary): (\d+)", Path(dump).read_text(), re.M)
        totals.append(int(match.group(1)) if match else 0)
        if keep is not None:
            shutil.copy(dump, keep / Path(dump).name)
        os.remove(dump)
    return totals


def block_totals(
    bindir: Path, work: Path, database: str, text: str, labels: list[str | None], keep: Path | None
) -> dict[str, list[int]]:
    """Runs the single-user script `text`, whose blocks each end with a `SELECT pg_sleep(0)`, under
    callgrind, collecting inside PostgresMain and dumping before each pg_sleep; returns each label's
    blocks' instruction totals in order (`labels`: a block's label, or None for an uncounted one)."""
    collect = ["--toggle-collect=PostgresMain", "--dump-before=pg_sleep"]
    totals = single_user_totals(bindir, work, database, text, collect, keep)
    # The last dump, of what follows the last pg_sleep, is no block's.
    if len(totals) < len(labels):
        raise RuntimeError(f"{len(totals)} callgrind dumps for {len(labels)} blocks")
    counts: dict[str, list[int]] = {}
    for label, total in zip(labels, totals[: len(labels)], strict=True):
        if label:
            counts.setdefault(label, []).append(total)
    return counts


def add_revision_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of a bench that counts one or two revisions of the example."""
    parser.add_argument("--revision", default="head", help="the example's revision (0008: library version 8)")
    parser.add_argument("--compare-revision", help="a second revision, measured the same way")
    parser.add_argument("--keep", type=Path, help="a directory to keep the callgrind dumps in")
    parser.add_argument(
        "--bindir", type=Path, help="the Postgres server binaries (default: pg_config --bindir)"
    )


def revisions(args: argparse.Namespace) -> dict[str, str]:
    """Database name to revision: `bench` for --revision, `compare` for --compare-revision."""
    chosen = {"bench": args.revision}
    if args.compare_revision:
        chosen["compare"] = args.compare_revision
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    return chosen


@contextmanager
def work_directory(prefix: str) -> Iterator[Path]:
    """A directory for the private cluster, its socket and the dumps, which every user may enter
    (the server runs as `postgres`); removed afterwards."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(work, 0o777)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def migrated_example(bindir: Path, work: Path, database: str, revision: str) -> None:
    """`database` made in the private cluster and migrated to the example's `revision`."""
    with private_cluster(bindir, work) as base:
        with psycopg.connect(f"{base} dbname=postgres", autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {database}")
        migrate(f"postgresql+psycopg://postgres@/{database}?host={work}&port=5433", revision)


def counted_revisions(
    args: argparse.Namespace, prefix: str, count: Callable[[Path, Path, str], Counted]
) -> Iterator[tuple[str, Counted]]:
    """For each revision `add_revision_arguments`' options name (`revisions`): the example migrated
    to it in its own database of a private cluster in a work directory named from `prefix`, and
    what `count(bindir, work, database)` counted there."""
    bindir = server_binaries(args.bindir)
    with work_directory(prefix) as work:
        for database, revision in revisions(args).items():
            migrated_example(bindir, work, database, revision)
            yield revision, count(bindir, work, database)
