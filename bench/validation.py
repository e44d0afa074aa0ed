"""The host's request checks alone: what validating a push or pull costs before the database is called.

    python bench/validation.py [--mutations 1000] [--repeat 200]

Times `parse_json` + `parse_push` of one batch of `--mutations` mutations
(puts and patches of todos, uuids and text as a client sends them) and
`parse_json` + `parse_pull` of a pull request, best of `--repeat`, and the
same batch through `json.loads` alone as the floor any host pays. Run it on
two checkouts (`PYTHONPATH=<checkout>`) to compare validators: `bench/sync.py`
calls the SQL functions directly and never sees this part.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from collections.abc import Callable

from alembic_drizzlesync.sync.protocol import DEFAULT_LIMITS, Limits, parse_json, parse_pull, parse_push


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
        row = str(uuid.uuid4())
        if i % 2:
            values = {"team_id": team, "title": f"todo number {i}", "done": False}
            mutations.append(
                {"id": i, "tx": i, "table": "todos", "op": "put", "pk": {"id": row}, "values": values}
            )
        else:
            mutations.append(
                {
                    "id": i,
                    "tx": i - 1,
                    "table": "todos",
                    "op": "patch",
                    "pk": {"id": row},
                    "values": {"done": True},
                }
            )
    return json.dumps(
        {"protocol": 1, "schemaVersion": 1, "clientId": "bench-1", "mutations": mutations}
    ).encode()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mutations", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    limits = Limits(max_mutations=max(args.mutations, DEFAULT_LIMITS.max_mutations))
    push = push_body(args.mutations)
    pull = json.dumps(
        {"protocol": 1, "schemaVersion": 1, "clientId": "bench-1", "cursor": "1.2", "limit": 500}
    )
    floor = best(lambda: json.loads(push), args.repeat)
    pushed = best(lambda: parse_push(parse_json(push), limits), args.repeat)
    pulled = best(lambda: parse_pull(parse_json(pull.encode()), limits), args.repeat * 10)
    print(f"push of {args.mutations} mutations ({len(push)} bytes): {pushed * 1e3:.2f} ms")
    per_mutation = (pushed - floor) / args.mutations * 1e6
    print(f"  of which json.loads: {floor * 1e3:.2f} ms; checks: {per_mutation:.2f} µs per mutation")
    print(f"  pushes per second through the checks: {1 / pushed:.0f}")
    print(f"pull request: {pulled * 1e6:.1f} µs ({1 / pulled:.0f} per second)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
