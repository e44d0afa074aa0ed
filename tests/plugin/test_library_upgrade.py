"""A database installed with version 1 of the library objects moves to version 2 and back.

Version 2 is version 1 plus its upgrade script (`alembic_drizzlesync.sql`),
so these tests also cover what a fresh install of version 2 runs.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Column, Integer, MetaData, Table, create_engine

from alembic_drizzlesync import localdb
from alembic_drizzlesync.config import load_config, parse_config
from alembic_drizzlesync.ops import UpgradeOp
from alembic_drizzlesync.plugin import compare
from alembic_drizzlesync.sql import LIBRARY_VERSION
from alembic_drizzlesync.sync import Identity, SyncProcessor
from tests.support import EXAMPLE, EXAMPLE_CHAIN, apply_ops, autogenerate, catalog_dump, migrate
from tests.sync import seed

CONFIG = parse_config({"include": ["todos"]})


def models() -> MetaData:
    metadata = MetaData()
    Table("todos", metadata, Column("id", Integer, primary_key=True))
    return metadata


def library_version(url: str) -> int:
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        row = conn.execute("SELECT version FROM drizzlesync.installation").fetchone()
    assert row is not None
    return int(row[0])


def test_autogenerate_emits_the_upgrade_first_and_it_reverses(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as release_1:  # the revision that first installed DrizzleSync
        release_1.setattr(compare, "LIBRARY_VERSION", 1)
        migrate(db_url, models(), CONFIG)
    assert library_version(db_url) == 1

    script = autogenerate(db_url, models(), CONFIG)
    assert script.upgrade_ops is not None and script.downgrade_ops is not None
    steps = range(1, LIBRARY_VERSION)
    assert script.upgrade_ops.ops == [UpgradeOp(version, version + 1) for version in steps]
    assert script.downgrade_ops.ops == [UpgradeOp(version + 1, version) for version in reversed(steps)]

    apply_ops(db_url, *script.upgrade_ops.ops)
    assert library_version(db_url) == LIBRARY_VERSION
    assert autogenerate(db_url, models(), CONFIG).upgrade_ops.is_empty()  # type: ignore[union-attr]
    apply_ops(db_url, *script.downgrade_ops.ops)
    assert library_version(db_url) == 1


def test_upgrades_move_one_version_at_a_time() -> None:
    with pytest.raises(ValueError, match="one version at a time"):
        UpgradeOp(1, 3)


def test_downgrade_to_version_1_restores_its_objects_and_grants_carry_over(
    db_url: str, example_config: Config
) -> None:
    command.upgrade(example_config, "0001")  # op.install_drizzlesync(1)
    version_1 = catalog_dump(db_url)
    host = f"{localdb.sqlalchemy_url(db_url).database}_host"  # roles are cluster-wide: one per test database
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute(f"CREATE ROLE {host}")
        db.execute(
            "GRANT EXECUTE ON FUNCTION drizzlesync.pull(text, text[], text, integer, text, integer) "
            f"TO {host}"
        )
        try:
            command.upgrade(example_config, "0002")  # op.upgrade_drizzlesync(1, 2), op.set_user_scopes(…)
            assert library_version(db_url) == 2
            can_pull, can_push = db.execute(
                f"SELECT has_function_privilege('{host}', "
                "'drizzlesync.pull(text, jsonb, text, integer, text, integer)', 'EXECUTE'), "
                f"has_function_privilege('{host}', "
                "'drizzlesync.push(text, jsonb, text, integer, jsonb)', 'EXECUTE')"
            ).fetchone() or (None, None)
            assert (can_pull, can_push) == (True, False)

            command.downgrade(example_config, "0001")
            assert catalog_dump(db_url) == version_1
        finally:
            db.execute(f"DROP OWNED BY {host}")
            db.execute(f"DROP ROLE {host}")


def test_a_version_1_database_upgrades_and_its_clients_keep_syncing(
    db_url: str, example_config: Config
) -> None:
    command.upgrade(example_config, "0001")
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        alice, team = seed.member(db, "alice", "A")
        seed.todo(db, team, "before the upgrade")
        # A version 1 host passed the keys it resolved itself.
        with db.transaction():
            db.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = db.execute(
                "SELECT drizzlesync.pull(%s, %s::text[], 'phone', 1, NULL, 100)::text",
                (alice, [f"team:{team}"]),
            ).fetchone()
        assert row is not None
        bootstrap = json.loads(row[0])
        assert not bootstrap["hasMore"] and len(bootstrap["changes"]) == 3

        command.upgrade(example_config, "head")
        later = seed.todo(db, team, "after the upgrade")

    engine = create_engine(db_url)
    processor = SyncProcessor.from_config(engine, load_config(EXAMPLE / "pyproject.toml"))
    request: dict[str, Any] = {"protocol": 1, "schemaVersion": 1, "clientId": "phone"}
    try:
        pulled = processor.pull(
            Identity(alice), json.dumps({**request, "cursor": bootstrap["cursor"]}).encode()
        )
        assert pulled.status == 200, pulled.body
        page = json.loads(pulled.body)
        assert not page["reset"]
        assert [(c["table"], c["row"]["id"]) for c in page["changes"]] == [("todos", later)]

        mutation = {
            "id": 1,
            "tx": 1,
            "table": "todos",
            "op": "patch",
            "pk": {"id": later},
            "values": {"done": True},
        }
        pushed = processor.push(Identity(alice), json.dumps({**request, "mutations": [mutation]}).encode())
        assert pushed.status == 200, pushed.body
        assert json.loads(pushed.body) == {"lastMutationId": 1, "rejected": []}
    finally:
        engine.dispose()


def function_security(url: str) -> list[tuple[Any, ...]]:
    """Each library function's SECURITY DEFINER flag and grants, which CREATE OR REPLACE may reset or keep."""
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT p.oid::regprocedure::text, p.prosecdef, p.proacl::text FROM pg_proc AS p "
            "WHERE p.pronamespace = 'drizzlesync'::regnamespace ORDER BY 1"
        ).fetchall()
    return [tuple(row) for row in rows]


def test_version_4_downgrades_to_version_3_exactly_and_keeps_grants(
    db_url: str, example_config: Config
) -> None:
    # The example carries one revision per library version: the Nth installs or upgrades to version N.
    version_3, version_4 = EXAMPLE_CHAIN[2], EXAMPLE_CHAIN[3]
    command.upgrade(example_config, version_3)
    host = f"{localdb.sqlalchemy_url(db_url).database}_host"
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute(f"CREATE ROLE {host}")
        db.execute(f"GRANT EXECUTE ON FUNCTION drizzlesync.push(text, jsonb, text, integer, jsonb) TO {host}")
        db.execute(
            f"GRANT EXECUTE ON FUNCTION drizzlesync.push(text, text[], text, integer, jsonb) TO {host}"
        )
        try:
            catalog, security = catalog_dump(db_url), function_security(db_url)
            command.upgrade(example_config, version_4)
            assert library_version(db_url) == 4
            upgraded = dict((name, (definer, acl)) for name, definer, acl in function_security(db_url))
            # Re-created by version 4, yet still a step the SECURITY DEFINER entry point calls, and granted.
            assert (
                upgraded["drizzlesync.push(text,text[],text,integer,jsonb)"]
                == dict((name, (definer, acl)) for name, definer, acl in security)[
                    "drizzlesync.push(text,text[],text,integer,jsonb)"
                ]
            )
            assert upgraded["drizzlesync.push(text,text[],text,integer,jsonb)"][0] is False
            assert "drizzlesync.validate_mutations(jsonb)" not in upgraded

            command.downgrade(example_config, version_3)
            assert library_version(db_url) == 3
            assert catalog_dump(db_url) == catalog
            assert function_security(db_url) == security
        finally:
            db.execute(f"DROP OWNED BY {host}")
            db.execute(f"DROP ROLE {host}")


def test_each_later_version_downgrades_to_the_catalog_it_came_from(
    db_url: str, example_config: Config
) -> None:
    """Each upgrade of the example's chain, downgraded, restores the catalog before it (settings too)."""
    for before, after in itertools.pairwise(EXAMPLE_CHAIN):
        command.upgrade(example_config, before)
        version_before = catalog_dump(db_url)
        command.upgrade(example_config, after)
        command.downgrade(example_config, before)
        assert catalog_dump(db_url) == version_before, f"{after} → {before}"


def entry_owners_and_grants(url: str) -> dict[str, tuple[str, str | None]]:
    """The pull entry points' owner and ACL, by signature."""
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT p.oid::regprocedure::text, p.proowner::regrole::text, p.proacl::text FROM pg_proc AS p "
            "WHERE p.pronamespace = 'drizzlesync'::regnamespace AND p.proname = 'pull'"
        ).fetchall()
    return {str(name): (str(owner), acl) for name, owner, acl in rows}


def test_version_8_remakes_the_pull_entry_points_with_their_owner_and_grants(
    db_url: str, example_config: Config
) -> None:
    """Version 8 drops and creates both pull entry points (they return text, not json), and its
    downgrade does so again: each keeps its owner, the grants a project gave on it (with grant
    option too) and the ones the library revoked."""
    version_7, version_8 = EXAMPLE_CHAIN[6], EXAMPLE_CHAIN[7]
    command.upgrade(example_config, version_7)
    host = f"{localdb.sqlalchemy_url(db_url).database}_host"
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute(f"CREATE ROLE {host}")
        db.execute(
            f"GRANT EXECUTE ON FUNCTION drizzlesync.pull(text, jsonb, text, integer, text, integer) TO {host}"
        )
        db.execute(
            "GRANT EXECUTE ON FUNCTION drizzlesync.pull(text, text[], text, integer, text, integer) "
            f"TO {host} WITH GRANT OPTION"
        )
        db.execute(
            f"ALTER FUNCTION drizzlesync.pull(text, jsonb, text, integer, text, integer) OWNER TO {host}"
        )
        try:
            catalog, security, entries = (
                catalog_dump(db_url),
                function_security(db_url),
                entry_owners_and_grants(db_url),
            )
            assert entries["drizzlesync.pull(text,jsonb,text,integer,text,integer)"][0] == host
            command.upgrade(example_config, version_8)
            assert library_version(db_url) == 8
            assert entry_owners_and_grants(db_url) == entries
            command.downgrade(example_config, version_7)
            assert catalog_dump(db_url) == catalog
            assert function_security(db_url) == security
            assert entry_owners_and_grants(db_url) == entries
        finally:
            db.execute(f"DROP OWNED BY {host}")
            db.execute(f"DROP ROLE {host}")
