"""The host's request checks alone: what validating a push or pull costs before the database is called.

    python bench/validation.py [--mutations 1000] [--repeat 200] [--baseline CHECKOUT]

Times `parse_json` + `parse_push` of one batch of `--mutations` mutations
(puts and patches of todos, uuids and text as a client sends them) and
`parse_json` + `parse_pull` of a pull request, best of `--repeat`, beside
`json.loads` of the same batch, the floor any host pays. `bench/sync.py`
calls the SQL functions directly and never sees this part.

With `--baseline`, a directory holding another version of the package
(e.g. `git archive <rev> alembic_drizzlesync | tar -x -C /tmp/base`), both
versions are measured in alternating subprocesses, best of three rounds
each, and the ratios printed side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

ROUNDS = 3


def best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def push_body(count: int) -> bytes:
    team = str(uuid.uuid4())
    mutations = []
    for i in range(1, count + 1):
        pk = {"id": str(uuid.uuid4())}
        if i % 2:
            values = {"team_id": team, "title": f"todo number {i}", "done": False}
            mutations.append({"id": i, "tx": i, "table": "todos", "op": "put", "pk": pk, "values": values})
        else:
            mutations.append({"id": i, "tx": i - 1, "table": "todos", "op": "patch", "pk": pk, "values": {}})
    body = {"protocol": 1, "schemaVersion": 1, "clientId": "bench-1", "mutations": mutations}
    return json.dumps(body).encode()


def measure(mutations: int, repeat: int) -> dict[str, float]:
    """Seconds per push check, per pull check and per `json.loads` of the push, in this interpreter."""
    from alembic_drizzlesync.sync.protocol import DEFAULT_LIMITS, Limits, parse_json, parse_pull, parse_push

    limits = Limits(max_mutations=max(mutations, DEFAULT_LIMITS.max_mutations))
    push = push_body(mutations)
    pull = json.dumps(
        {"protocol": 1, "schemaVersion": 1, "clientId": "bench-1", "cursor": "1.2", "limit": 500}
    )
    return {
        "json.loads": best(lambda: json.loads(push), repeat),
        "push": best(lambda: parse_push(parse_json(push), limits), repeat),
        "pull": best(lambda: parse_pull(parse_json(pull.encode()), limits), repeat * 10),
    }


def measure_in(path: str | None, args: argparse.Namespace) -> dict[str, float]:
    """`measure` in a fresh interpreter importing the package from `path` (None: this checkout)."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([path, env.get("PYTHONPATH", "")])
    command = [
        sys.executable,
        __file__,
        "--json",
        "--mutations",
        str(args.mutations),
        "--repeat",
        str(args.repeat),
    ]
    result: dict[str, float] = json.loads(
        subprocess.run(command, env=env, check=True, capture_output=True).stdout
    )
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mutations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--baseline", help="a directory with another alembic_drizzlesync to compare with")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.json:
        print(json.dumps(measure(args.mutations, args.repeat)))
        return 0
    if args.baseline is None:
        ours = measure(args.mutations, args.repeat)
        print(
            f"push of {args.mutations} mutations: {ours['push'] * 1e3:.2f} ms (json.loads alone: "
            f"{ours['json.loads'] * 1e3:.2f} ms); pull request: {ours['pull'] * 1e6:.1f} µs"
        )
        return 0
    runs: dict[str, list[dict[str, float]]] = {"ours": [], "baseline": []}
    for _ in range(ROUNDS):
        runs["baseline"].append(measure_in(args.baseline, args))
        runs["ours"].append(measure_in(None, args))
    ours, base = ({key: min(r[key] for r in rs) for key in rs[0]} for rs in (runs["ours"], runs["baseline"]))
    print(f"{'checks of':<28}{'ours':>12}{'baseline':>12}{'ratio':>8}")
    for key, label, unit, scale in (
        ("push", f"a push of {args.mutations}", "ms", 1e3),
        ("pull", "a pull request", "µs", 1e6),
    ):
        print(
            f"{label:<28}{ours[key] * scale:>9.2f} {unit}{base[key] * scale:>9.2f} {unit}"
            f"{ours[key] / base[key]:>7.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
