"""The Worker host against the ASGI host, side by side in one run; prints ratios.

    python bench/worker/compare.py [--database-url URL] [--requests 300] [--threads 4]
                                   [--pool-size 10] [--database-rtt MS]
                                   # PgBouncer for the pooled rows (Debian: apt-get install pgbouncer)

Both hosts serve one migrated copy of the example project on this machine, the
ASGI app under uvicorn and the Worker under workerd through Miniflare (as the
conformance tests start them, tests/conformance/hosts.py), with the same
settings and development auth (`Bearer <user id>`):

1. a pull of 100 changes (a bootstrap page of 98 todos, the team and the membership);
2. a push of 10 mutations (puts of new todos, each batch a client's next ten ids);
   for each, the p50 and p99 latency of `--requests` sequential requests and the
   requests per second of `--threads` clients at once;
3. the cold start: the Worker's first request in a fresh isolate (Miniflare
   restarts workerd with the Worker: module evaluation, schema compilation, the
   first connection) against a fresh Python process's first response (uvicorn
   serving example_project/app/sync_server.py).

The Worker opens a Postgres connection per request, as a deployed Worker does
through Hyperdrive. Pointed at Postgres itself, each request then starts a
backend of its own, which compiles the protocol's PL/pgSQL functions and plans
their statements afresh: the `worker` rows. Deployed, Hyperdrive keeps a pool of
connections to the database and hands each transaction one of them, warm. The
`pooled` rows put PgBouncer in transaction mode (a pool of `--pool-size`
connections, as the ASGI host's) between the Worker and Postgres, which does
the same on this machine; they are skipped when `pgbouncer` is not installed.

`--database-rtt MS` puts the database that far away: every byte to and from
Postgres passes a proxy that delays it by half of MS each way, for both hosts
(the ASGI host's pool and PgBouncer's connect through it). A request then
costs about MS for each round trip it makes to the database, which is what a
host far from its database pays.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402

from alembic_drizzlesync import localdb  # noqa: E402
from bench.sync import add_todos, migrated_database, seed_team  # noqa: E402
from tests.conformance.hosts import AsgiHost, Settings, WorkerHost, free_port  # noqa: E402

Request = Callable[[httpx.Client, int, int], httpx.Response]


def pull_100(user: str) -> Request:
    # A client per run and thread, as devices are: each bootstrap page leaves a cursor row
    # behind for its client, and one client's concurrent pulls may conflict (503, retry).
    run = uuid.uuid4().hex[:8]

    def send(http: httpx.Client, thread: int, index: int) -> httpx.Response:
        body = {"protocol": 1, "schemaVersion": 1, "clientId": f"bench-pull-{run}-{thread}", "cursor": None}
        return http.post("/pull", json={**body, "limit": 100}, headers={"authorization": f"Bearer {user}"})

    return send


def push_10(user: str, team: str) -> Request:
    run = uuid.uuid4().hex[:8]

    def send(http: httpx.Client, thread: int, index: int) -> httpx.Response:
        mutations = [
            {
                "id": index * 10 + offset + 1,
                "tx": index + 1,
                "table": "todos",
                "op": "put",
                "pk": {"id": str(uuid.uuid4())},
                "values": {"team_id": team, "title": f"bench {index}.{offset}"},
            }
            for offset in range(10)
        ]
        body = {
            "protocol": 1,
            "schemaVersion": 1,
            "clientId": f"bench-{run}-{thread}",
            "mutations": mutations,
        }
        return http.post("/push", json=body, headers={"authorization": f"Bearer {user}"})

    return send


def timed(http: httpx.Client, send: Request, thread: int, index: int) -> float:
    start = time.perf_counter()
    response = send(http, thread, index)
    elapsed = time.perf_counter() - start
    assert response.status_code == 200, response.text
    return elapsed


def measure(url: str, make: Callable[[], Request], requests: int, threads: int) -> dict[str, float]:
    """p50/p99 of sequential requests (after a warm-up), then req/s of `threads` clients at once."""
    send = make()
    with httpx.Client(base_url=url, timeout=60) as http:
        for index in range(10):
            timed(http, send, 0, index)
        latencies = sorted(timed(http, send, 0, 10 + index) for index in range(requests))
    send = make()  # fresh client ids: each thread's first batch is its client's mutation 1

    failures: list[BaseException] = []

    def client(thread: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=60) as http:
                for index in range(requests // threads):
                    timed(http, send, thread, index)
        except BaseException as error:  # counted below: a thread that stopped early skews req/s
            failures.append(error)

    workers = [threading.Thread(target=client, args=(thread,)) for thread in range(threads)]
    start = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    return {
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, round(len(latencies) * 0.99))] * 1000,
        "rps": threads * (requests // threads) / elapsed,
    }


def on_port(url: str, port: int) -> str:
    """`url` with its host and port those of a proxy or pooler on 127.0.0.1."""
    return localdb.libpq_url(localdb.sqlalchemy_url(url).set(host="127.0.0.1", port=port))


@contextmanager
def delayed(url: str, one_way_ms: float) -> Iterator[str]:
    """`url` behind a TCP proxy on 127.0.0.1 that holds every chunk `one_way_ms` each way before
    passing it on, in order: the URL to connect to instead. Latency, not a bandwidth limit: each
    chunk waits its own time from when it arrived."""
    target = psycopg.conninfo.conninfo_to_dict(url)
    origin = (str(target.get("host", "127.0.0.1")), int(target.get("port") or 5432))
    delay = one_way_ms / 1000
    loop = asyncio.new_event_loop()

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not chunk:
                    writer.close()
                    return
                writer.write(chunk)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        while chunk := await reader.read(65536):
            queue.put_nowait((loop.time() + delay, chunk))
        queue.put_nowait((loop.time() + delay, b""))
        await sender

    async def connection(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*origin)
        await asyncio.gather(
            pump(client_reader, server_writer), pump(server_reader, client_writer), return_exceptions=True
        )

    server = loop.run_until_complete(asyncio.start_server(connection, "127.0.0.1", 0))
    port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield on_port(url, port)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@contextmanager
def transaction_pool(url: str, size: int) -> Iterator[str]:
    """`url`'s database behind a PgBouncer of its own in transaction mode, `size` connections: the
    URL a client connects to instead. As root, PgBouncer runs as the OS user `postgres` (it refuses
    root)."""
    target = psycopg.conninfo.conninfo_to_dict(url)
    port = free_port()
    work = Path(tempfile.mkdtemp(prefix="drizzlesync-pgbouncer-"))
    os.chmod(work, 0o777)
    (work / "users.txt").write_text(f'"{target.get("user", "postgres")}" ""\n')
    origin = (
        f"host={target.get('host', '127.0.0.1')} port={target.get('port', 5432)} dbname={target['dbname']}"
    )
    (work / "pgbouncer.ini").write_text(
        f"""[databases]
{target["dbname"]} = {origin}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {work / "users.txt"}
pool_mode = transaction
default_pool_size = {size}
max_client_conn = 1000
logfile = {work / "pgbouncer.log"}
"""
    )
    command = ["pgbouncer", str(work / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        pooled = on_port(url, port)
        for _ in range(200):  # until it accepts connections
            try:
                psycopg.connect(pooled, connect_timeout=1).close()
                break
            except psycopg.OperationalError:
                time.sleep(0.025)
        yield pooled
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(work, ignore_errors=True)


def worker_cold_start(worker: WorkerHost, url: str, settings: Settings, user: str, repeat: int) -> float:
    """The median first pull of a fresh isolate, in ms; each restart is untimed."""
    send = pull_100(user)
    firsts = []
    for _ in range(repeat):
        with worker.serve(url, settings) as base, httpx.Client(base_url=base, timeout=60) as http:
            firsts.append(timed(http, send, 0, 0))
    return statistics.median(firsts) * 1000


@contextmanager
def python_process(url: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "app.sync_server:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT / "example_project",
        env={**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
    )
    try:
        yield process, f"http://127.0.0.1:{port}/sync"
    finally:
        process.terminate()
        process.wait(10)


def asgi_cold_start(url: str, user: str, repeat: int) -> float:
    """The median time from starting a Python process to its first pull response, in ms."""
    body = json.dumps({"protocol": 1, "schemaVersion": 1, "clientId": "cold", "cursor": None, "limit": 100})
    firsts = []
    for _ in range(repeat):
        start = time.perf_counter()
        with python_process(url) as (_, base):
            while True:
                try:
                    response = httpx.post(
                        f"{base}/pull",
                        content=body,
                        headers={"authorization": f"Bearer {user}", "content-type": "application/json"},
                    )
                    break
                except httpx.TransportError:
                    time.sleep(0.005)
            assert response.status_code == 200, response.text
            firsts.append(time.perf_counter() - start)
    return statistics.median(firsts) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="a server to create databases on")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--cold-starts", type=int, default=5)
    parser.add_argument(
        "--pool-size", type=int, default=10, help="PgBouncer's pool (the ASGI host's default)"
    )
    parser.add_argument(
        "--database-rtt", type=float, default=0.0, help="ms a round trip to the database takes"
    )
    args = parser.parse_args()
    server = args.database_url or localdb.find_server()
    settings = Settings()
    worker = WorkerHost()
    try:
        with migrated_database(server) as url:
            with psycopg.connect(url, autocommit=True) as db:
                user, team = seed_team(db)
                add_todos(db, team, 98)
            scenarios: list[tuple[str, Callable[[], Request]]] = [
                ("pull, 100 changes", lambda: pull_100(user)),
                ("push, 10 mutations", lambda: push_10(user, team)),
            ]
            results: dict[tuple[str, str], dict[str, float]] = {}
            with delayed(url, args.database_rtt / 2) if args.database_rtt else nullcontext(url) as far:
                for name, make in scenarios:
                    for host in (AsgiHost(), worker):
                        with host.serve(far, settings) as base:
                            results[name, host.name] = measure(base, make, args.requests, args.threads)
                    if shutil.which("pgbouncer"):
                        with (
                            transaction_pool(far, args.pool_size) as pooled,
                            worker.serve(pooled, settings) as base,
                        ):
                            results[name, "pooled"] = measure(base, make, args.requests, args.threads)
            cold_worker = worker_cold_start(worker, url, settings, user, args.cold_starts)
            cold_asgi = asgi_cold_start(url, user, args.cold_starts)
    finally:
        worker.close()

    print(
        f"{'':<20} {'host':<7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}   ({args.threads} clients for req/s)"
    )
    hosts = [h for h in ("asgi", "worker", "pooled") if (scenarios[0][0], h) in results]
    for name, _ in scenarios:
        for host_name in hosts:
            r = results[name, host_name]
            print(f"{name:<20} {host_name:<7} {r['p50']:8.1f} {r['p99']:8.1f} {r['rps']:8.1f}")
        asgi = results[name, "asgi"]
        for host_name in hosts[1:]:
            ours = results[name, host_name]
            p50, p99, rps = (ours[k] / asgi[k] for k in ("p50", "p99", "rps"))
            print(f"{name:<20} {'ratio':<7} {p50:7.2f}x {p99:7.2f}x {rps:7.2f}x   ({host_name} / asgi)")
    if "pooled" not in hosts:
        print("pooled rows skipped: pgbouncer is not installed")
    warm = results["pull, 100 changes", "worker"]["p50"]
    print(
        f"cold start: worker, first pull of a fresh isolate {cold_worker:.0f} ms (warm p50 {warm:.1f} ms); "
        f"asgi, fresh Python process to first pull {cold_asgi:.0f} ms; ratio {cold_worker / cold_asgi:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
