"""Client migrations in Node with a WASM SQLite (sql.js): N → N+1 keeps the outbox."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg

from alembic_drizzlesync.localdb import libpq_url

from .conftest import generate_into, run_script


def test_sql_js_client_moves_to_the_next_version_with_its_outbox(
    fixture_url: str, tmp_path: Path, node_modules: Path
) -> None:
    out = tmp_path / "out"
    generate_into(fixture_url, out)
    shutil.copytree(out, tmp_path / "gen1")
    with psycopg.connect(libpq_url(fixture_url), autocommit=True) as conn:
        conn.execute("ALTER TABLE orgs ADD COLUMN motto text")
    generate_into(fixture_url, out)
    shutil.copytree(out, tmp_path / "gen2")
    report = run_script(tmp_path, "migrate", node_modules)
    assert report["versions"] == [1, 2]
    assert report["pending"] == [
        ["orgs", "put", '{"id":1}', '{"id":1,"owner_membership":null,"name":"Acme","slug":"acme"}'],
        ["orgs", "patch", '{"id":1}', '{"name":"Acme Inc"}'],
    ]
    assert report["kept"] == report["pending"]
    assert report["after"] == [["orgs", "patch", '{"id":1}', '{"motto":"later"}']]
    assert report["rows"] == [[1, "Acme Inc", "later"]]
