"""What bench/capture_instructions.py and bench/pull_instructions.py share: a private Postgres
cluster made for the run, and its single-user backend run under `valgrind --tool=callgrind`, whose
dumps are read back as instruction totals. As root, the server binaries run as the OS user
`postgres` (initdb and postgres refuse root)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
