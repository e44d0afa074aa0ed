"""Version 9 re-creates version 8's idle poll functions from their released text through `replace`
filters, which change nothing when their text is not found; and it makes `client_key` and
`pull_response` SQL functions with standard bodies and no SET clause, so that the planner inlines
them. Such a body is parsed when it is created, under the search_path of the session that runs the
migration: names in it that the migrating session could resolve to its own objects must be
schema-qualified, or the library would run them, as whoever calls the function."""

from __future__ import annotations

import psycopg

from alembic_drizzlesync import localdb
from alembic_drizzlesync.ops import InstallOp, UpgradeOp
from alembic_drizzlesync.sql import downgrade_script, upgrade_script
from alembic_drizzlesync.templating import environment
from tests.support import apply_ops, execute

# Operators that a text concatenation or comparison in those bodies would find first: each records
# that it ran, then does what pg_catalog's does.
HOSTILE = """
CREATE SCHEMA hostile;
CREATE TABLE hostile.hits (what text);
GRANT INSERT ON hostile.hits TO PUBLIC;
CREATE FUNCTION hostile.cat(a text, b text) RETURNS text LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO hostile.hits VALUES ('||'); RETURN a OPERATOR(pg_catalog.||) b; END $$;
CREATE OPERATOR hostile.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = hostile.cat);
CREATE FUNCTION hostile.to_json(v text) RETURNS json LANGUAGE plpgsql
    AS $$ BEGIN INSERT INTO hostile.hits VALUES ('to_json'); RETURN pg_catalog.to_json(v); END $$
"""


def test_the_inlined_functions_bodies_name_nothing_of_the_migrating_sessions_search_path(db_url: str) -> None:
    apply_ops(db_url, InstallOp(8))
    execute(db_url, *HOSTILE.strip().split(";\n"))
    database = localdb.sqlalchemy_url(db_url).database
    execute(db_url, f"ALTER DATABASE {database} SET search_path = hostile, pg_catalog, public")
    try:
        apply_ops(db_url, UpgradeOp(8, 9))  # a new session, under that search_path
    finally:
        execute(db_url, f"ALTER DATABASE {database} RESET search_path")
    # The migration's own statements ran under the search_path it chose (its DO blocks concatenate).
    execute(db_url, "DELETE FROM hostile.hits")
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        row = db.execute(
            "SELECT drizzlesync.client_key('laptop'),"
            " drizzlesync.pull_response('c', false, false, 7, '[]', 3)"
        ).fetchone()
        hits = db.execute("SELECT what FROM hostile.hits").fetchall()
    assert row == (
        "drizzlesync:client:laptop",
        '{"cursor":"c","hasMore":false,"reset":false,"lastMutationId":7,"estimatedTotal":3,"changes":[]}',
    )
    assert hits == []


def test_every_change_to_version_8s_text_applies() -> None:
    """Each function the upgrade re-creates from version 8's text, as it renders: what was replaced is
    gone, and what replaced it is there."""
    upgrade = environment().get_template("sql/v9/upgrade.sql.j2").render(schema="drizzlesync")
    # The last definition is the one that stays (log.sql.j2 re-creates idle_poll with version 9's log
    # ranges before pull_idle.sql.j2 does).
    functions = {
        name: upgrade.rsplit(f"CREATE OR REPLACE FUNCTION drizzlesync.{name}(", 1)[1].split("$fn$;", 1)[0]
        for name in ("idle_poll", "pull")
    }
    response = upgrade.split("CREATE OR REPLACE FUNCTION drizzlesync.pull_response(", 1)[1].split(";\n", 1)[0]
    assert "split_part" not in functions["idle_poll"]
    assert "supported_schema_versions" not in functions["idle_poll"]
    assert "AS o" not in functions["idle_poll"]  # the test that no older cursor exists
    assert "p.ctid = (SELECT f.ctid" in functions["idle_poll"]
    assert "schema_version = (SELECT max(v.version)" in functions["idle_poll"]
    assert "RETURN (" not in functions["idle_poll"]
    assert "LIMIT 1);\n    RETURN answer;\nEND" in functions["idle_poll"]
    assert "e.scope_hash" in functions["idle_poll"] and "hashtext(coalesce" not in functions["idle_poll"]
    assert "~" not in functions["pull"] and "user_scopes(" not in functions["pull"]
    assert "user_scope_keys(user_id, claims)" in functions["pull"]
    assert "LANGUAGE sql STABLE\nRETURN " in response and " || " not in response and "$fn$" not in response


def test_every_change_to_version_9s_idle_poll_applies() -> None:
    """Version 16 re-creates version 9's idle_poll from its released text: an old cursor is no longer
    a reason to decline, and an answer from one refreshes it in place."""
    upgrade = environment().get_template("sql/v16/upgrade.sql.j2").render(schema="drizzlesync")
    (idle_poll,) = upgrade.split("CREATE OR REPLACE FUNCTION drizzlesync.idle_poll(")[1:]
    assert "LANGUAGE plpgsql\n" in idle_poll and "STABLE" not in idle_poll
    assert "cursor_id uuid;\n    young boolean;\n" in idle_poll
    assert "INTO answer, cursor_id, young\n" in idle_poll
    assert "p.created_at > now() - interval '1 minute'\n        INTO" in idle_poll
    assert "AND p.created_at >" not in idle_poll
    assert "UPDATE drizzlesync.pull_cursor SET base = pg_current_snapshot(), created_at = now()" in idle_poll
    assert "END IF;\n    RETURN answer;\nEND\n$fn$;" in idle_poll


def test_version_23s_idle_poll_is_version_16s_with_ten_minutes() -> None:
    """Version 23 re-creates version 16's idle_poll from its released text, a cursor young for ten
    minutes where it was for one; nothing else differs."""
    version_16 = upgrade_script(16, "drizzlesync")[0]
    idle_poll, installation = upgrade_script(23, "drizzlesync")
    assert installation.startswith("UPDATE drizzlesync.installation SET version = 23")
    assert idle_poll.startswith("CREATE OR REPLACE FUNCTION drizzlesync.idle_poll(")
    assert "interval '1 minute'" not in idle_poll
    assert idle_poll.count("p.created_at > now() - interval '10 minutes'\n        INTO") == 1
    assert idle_poll.replace("'10 minutes'", "'1 minute'") == version_16


def test_every_change_to_version_17s_released_functions_applies() -> None:
    """Version 17 re-creates five functions from released text (versions 4, 8, 11 and 15): what was
    replaced is gone, and what replaced it is there."""
    upgrade = "\n".join(upgrade_script(17, "drizzlesync"))

    def function(name: str, verb: str = "CREATE OR REPLACE FUNCTION") -> str:
        (body,) = upgrade.split(f"{verb} drizzlesync.{name}(")[1:]
        return body.split("\n$fn$", 1)[0]

    values = function("scope_column_values", "CREATE FUNCTION")
    assert values.startswith("read_prefix text, read_type regtype, scope_keys text[]) RETURNS text[]")
    assert "read_column" not in values and "format(" not in values
    assert values.endswith("    RETURN column_values;\nEND")
    image = function("row_image_sql")
    assert image.count("to_json(") == image.count("row_to_json(") == 4
    query = function("page_query")
    assert "read_back record;" in query and "scope_column(s) AS r;" in query
    assert "ELSE 'cur.scope' END," in query and "scope_column_values(%2$L, %3$L, $5)" in query
    window = function("window_page")
    assert "pieces" not in window and "joined := CASE WHEN joined IS NULL THEN page" in window
    assert "RETURN ROW(st, joined," in window
    pull = function("pull")
    assert "pieces" not in pull and "SECURITY DEFINER" not in pull
    assert "joined := CASE WHEN joined IS NULL THEN step.changes" in pull
    assert "'[' || coalesce(joined, '') || ']'" in pull


def test_every_change_to_version_18s_released_functions_applies() -> None:
    """Version 18 re-creates apply_transaction (version 4) and apply_patches (version 15) from released
    text: each checks the deferred constraints wherever it reports success, and nowhere else."""
    upgrade = "\n".join(upgrade_script(18, "drizzlesync"))
    check = (
        "IF current_setting('drizzlesync.deferred_constraints', true) IS DISTINCT FROM '-' THEN\n"
        "{0}    PERFORM drizzlesync.check_deferred_constraints();\n"
        "{0}END IF;\n"
        "{0}RETURN"
    )

    def function(name: str) -> str:
        (body,) = upgrade.split(f"CREATE OR REPLACE FUNCTION drizzlesync.{name}(")[1:]
        return body.split("\n$fn$", 1)[0]

    transaction = function("apply_transaction")
    assert transaction.count("check_deferred_constraints") == 1
    assert f"END LOOP;\n        {check.format(' ' * 8)};\n" in transaction
    patches = function("apply_patches")
    assert patches.count("check_deferred_constraints") == 2 and patches.count("RETURN true;") == 2
    assert f"updated THEN\n                {check.format(' ' * 16)} true;\n" in patches
    assert f"END IF;\n        {check.format(' ' * 8)} true;\n" in patches


def test_every_change_to_version_24s_released_functions_applies() -> None:
    """Version 24 re-creates page_query (version 17) and snapshot_rows (version 13) with their deletes
    keyed in wire form, and enable_sync (version 6) with its two refusals: each is its released text
    with the change alone."""

    def released(version: int, name: str) -> str:
        script = upgrade_script(version, "drizzlesync")
        (statement,) = [s for s in script if f"FUNCTION drizzlesync.{name}(" in s]
        return statement

    key_wire, key_image, page_query, snapshot_rows, emptied, enable_sync, installation = upgrade_script(
        24, "drizzlesync"
    )
    assert key_wire.startswith("CREATE FUNCTION drizzlesync.key_wire_sql(")
    assert key_image.startswith("CREATE FUNCTION drizzlesync.key_image_sql(")
    assert emptied == "DELETE FROM drizzlesync.page_query_cache"
    assert installation.startswith("UPDATE drizzlesync.installation SET version = 24")

    keyed = "drizzlesync.change($6, NULL, %6$s, false)"
    passed = "drizzlesync.row_image_sql(target::regclass, 't'),\n            drizzlesync.key_image_sql(s));"
    assert page_query.count(keyed) == 1 and page_query.count(passed) == 1
    assert page_query.replace(keyed, "drizzlesync.change($6, NULL, k.pk, false)").replace(
        passed, "drizzlesync.row_image_sql(target::regclass, 't'));"
    ) == released(17, "page_query")

    wired = (
        "drizzlesync.change($2, NULL, %s, false) END, '\n"
        "                         '           '','')',\n"
        "                         coalesce(drizzlesync.key_wire_sql(synced, ARRAY(SELECT 'cur.k' || o FROM "
        "generate_series(1, cardinality(synced.pk_columns)) AS o)),\n"
        "                                  format('jsonb_build_object(%s)', key_json))) END,"
    )
    assert snapshot_rows.count(wired) == 1
    assert snapshot_rows.replace(
        wired,
        "drizzlesync.change($2, NULL, jsonb_build_object(%s), false) END, '\n"
        "                         '           '','')', key_json) END,",
    ) == released(13, "snapshot_rows")

    checks = enable_sync.split("    END IF;\n", 1)[1].split("    PERFORM drizzlesync.check_scope_rule(")[0]
    assert checks.count("RAISE EXCEPTION") == 2
    assert enable_sync.replace("    refused record;\n", "").replace(checks, "") == released(6, "enable_sync")


def test_every_change_to_version_25s_released_functions_applies() -> None:
    """Version 25 re-creates enable_sync (version 24) refusing keys of an extension's type, and
    check_deferred_constraints (version 22) leaving out other sessions' temporary schemas: each is
    its released text with the change alone."""

    def released(version: int, name: str) -> str:
        (statement,) = [
            s for s in upgrade_script(version, "drizzlesync") if f"FUNCTION drizzlesync.{name}(" in s
        ]
        return statement

    enable_sync, deferred, installation = upgrade_script(25, "drizzlesync")
    assert installation == "UPDATE drizzlesync.installation SET version = 25"
    refused = "\n           OR (e.typtype = 'b' AND e.typnamespace <> 'pg_catalog'::regnamespace))"
    said = ", nor an extension''s type such as citext or ltree)"
    assert enable_sync.count(refused) == 1 and enable_sync.count(said) == 1
    assert enable_sync.replace(refused, ")").replace(said, ")").replace(
        "of a type Postgres itself defines (not an array, a composite, json, a floating-point number",
        "(not an array, a composite, json or a floating-point number",
    ) == released(24, "enable_sync")

    scoped = (
        "\n              WHERE c.condeferred AND NOT pg_is_other_temp_schema(c.connamespace)"
        "\n                AND has_schema_privilege(c.connamespace, 'USAGE')) AS d"
    )
    assert deferred.count(scoped) == 1
    assert deferred.replace(scoped, " WHERE c.condeferred) AS d") == released(
        22, "check_deferred_constraints"
    )


def test_every_change_to_version_26s_released_functions_applies() -> None:
    """Version 26 re-creates apply_mutation (version 4) handing a write a BEFORE trigger skipped back
    to its client: its released text with the three changes alone."""
    apply_mutation, installation = upgrade_script(26, "drizzlesync")
    assert installation == "UPDATE drizzlesync.installation SET version = 26"
    (released,) = [s for s in upgrade_script(4, "drizzlesync") if "FUNCTION drizzlesync.apply_mutation(" in s]
    redeliver = (
        "PERFORM drizzlesync.redeliver(current_setting('drizzlesync.client_id'), "
        "jsonb_build_array(mutation), jsonb_build_object(mutation->>'table', plan));\n"
    )
    assert apply_mutation.count(redeliver) == 3
    deleted = (
        "        GET DIAGNOSTICS written = ROW_COUNT;\n"
        "        IF written < existing THEN  -- a BEFORE trigger kept the row: the client gets it back\n"
        f"            {redeliver}"
        "        END IF;\n"
    )
    inserted = (
        "            -- Nothing written: the key appeared since the lock above found\n"
        "            -- nothing (its row's scope was never checked, so the write is\n"
        "            -- refused), or a BEFORE trigger skipped the row (accepted, and the\n"
        "            -- client's next pull brings it as the server kept it: a delete).\n"
        "            IF written = 0 THEN\n"
        "                EXECUTE format('SELECT FROM %s AS t WHERE %s', target, plan->>'key')"
        " USING mutation->'pk';\n"
        "                GET DIAGNOSTICS existing = ROW_COUNT;\n"
        "                IF existing > 0 THEN\n"
        "                    RAISE EXCEPTION 'the row is outside your scopes' USING ERRCODE = 'DZ403';\n"
        "                END IF;\n"
        f"                {redeliver}"
        "                RETURN;\n"
    )
    was_inserted = (
        "            -- The key appeared since the lock above found nothing: its row's\n"
        "            -- scope was never checked, so the write is refused.\n"
        "            IF written = 0 THEN\n"
        "                RAISE EXCEPTION 'the row is outside your scopes' USING ERRCODE = 'DZ403';\n"
    )
    updated = "    ELSE  -- a BEFORE trigger skipped the row: the client gets it back as it is\n"
    updated += f"        {redeliver}"
    assert apply_mutation.count(deleted) == 1 and apply_mutation.count(inserted) == 1
    assert apply_mutation.count(updated) == 1
    assert (
        apply_mutation.replace(deleted, "").replace(inserted, was_inserted).replace(updated, "") == released
    )


def test_every_change_to_version_27s_released_functions_applies() -> None:
    """Version 27 re-creates the text[] pull (version 17) keeping the cursors before one whose page
    said hasMore: its released text with the three changes alone."""
    column, comment, parent, pull, installation = upgrade_script(27, "drizzlesync")
    assert column == (
        "ALTER TABLE drizzlesync.pull_cursor ADD COLUMN has_more boolean NOT NULL DEFAULT false,\n"
        "    ADD COLUMN parent uuid"
    )
    assert comment.startswith("COMMENT ON COLUMN drizzlesync.pull_cursor.has_more IS")
    assert parent.startswith("COMMENT ON COLUMN drizzlesync.pull_cursor.parent IS")
    assert installation == "UPDATE drizzlesync.installation SET version = 27"
    (released,) = [s for s in upgrade_script(17, "drizzlesync") if "FUNCTION drizzlesync.pull(" in s]
    kept = (
        "        -- The client has this cursor, so it no longer needs the ones before\n"
        "        -- it, unless its page said hasMore: then the client may still be\n"
        "        -- applying the pages before, having stored one of those cursors, and\n"
        "        -- the 64 it was made from are kept (library version 27).\n"
        "        DELETE FROM drizzlesync.pull_cursor AS p\n"
        "        WHERE p.client_id = pull.client_id AND p.created_xid < st.created_xid\n"
        "          AND (NOT st.has_more\n"
        "               OR p.id NOT IN (WITH RECURSIVE chain(id, depth) AS (\n"
        "                                   SELECT st.parent, 1 WHERE st.parent IS NOT NULL\n"
        "                                   UNION ALL\n"
        "                                   SELECT k.parent, c.depth + 1\n"
        "                                   FROM chain AS c\n"
        "                                   JOIN drizzlesync.pull_cursor AS k ON k.id = c.id\n"
        "                                   WHERE c.depth < 64 AND k.parent IS NOT NULL)\n"
        "                               SELECT c.id FROM chain AS c));\n"
    )
    deleted = (
        "        -- The client has this cursor, so it no longer needs the ones before it.\n"
        "        DELETE FROM drizzlesync.pull_cursor AS p\n"
        "        WHERE p.client_id = pull.client_id AND p.created_xid < st.created_xid;\n"
    )
    reuse = " AND NOT st.has_more\n"
    stored = (
        "    st.has_more := st.snap_keys IS NOT NULL OR st.target IS NOT NULL OR NOT opened;\n"
        "    st.parent := presented;\n"
    )
    assert pull.count(kept) == 1 and pull.count(reuse) == 1 and pull.count(stored) == 1
    assert pull.replace(kept, deleted).replace(reuse, "\n").replace(stored, "") == released


def test_every_change_to_version_28s_released_functions_applies() -> None:
    """Version 28 re-creates the text[] push (version 19) setting the writes' search path before it
    applies the batch: its released text with that one line added; and drops the SET clause of the
    functions between it and the writes, which its downgrade puts back."""
    create, push, *resets, installation = upgrade_script(28, "drizzlesync")
    assert create.startswith("CREATE FUNCTION drizzlesync.write_search_path() RETURNS text")
    assert installation == "UPDATE drizzlesync.installation SET version = 28"
    (released,) = [s for s in upgrade_script(19, "drizzlesync") if "FUNCTION drizzlesync.push(" in s]
    added = "    PERFORM set_config('search_path', drizzlesync.write_search_path(), true);\n"
    assert push.count(added) == 1
    assert push.replace(added, "") == released
    assert all(
        r.startswith("ALTER FUNCTION drizzlesync.") and r.endswith(" RESET search_path") for r in resets
    )
    downgrade = downgrade_script(28, "drizzlesync")
    for reset in resets:
        assert reset.replace("RESET search_path", "SET search_path = pg_catalog, pg_temp") in downgrade
    assert len(resets) == 7


def test_every_change_to_version_29s_released_functions_applies() -> None:
    """Version 29 re-creates version 18's apply_patches with its scope test naming the batch's row
    too, and nothing else; takes the SET clause off again, as version 28 did; and takes EXECUTE on
    user_scope_keys from PUBLIC. Its downgrade re-creates the released text, without the clause."""
    patches, reset, revoke, installation = upgrade_script(29, "drizzlesync")
    assert installation == "UPDATE drizzlesync.installation SET version = 29"
    (released,) = [s for s in upgrade_script(18, "drizzlesync") if "FUNCTION drizzlesync.apply_patches(" in s]
    alone, joined = "(%5$s) IS TRUE ", "((%5$s) OR m.drizzlesync_mutation IS NULL) IS TRUE "
    assert released.count(alone) == 1 and patches.count(joined) == 1
    assert patches.replace(joined, alone) == released
    assert reset == "ALTER FUNCTION drizzlesync.apply_patches(text[], jsonb, jsonb) RESET search_path"
    assert revoke == "REVOKE EXECUTE ON FUNCTION drizzlesync.user_scope_keys(text, jsonb) FROM PUBLIC"
    grant, downgraded, reset_again, back = downgrade_script(29, "drizzlesync")
    assert grant == "GRANT EXECUTE ON FUNCTION drizzlesync.user_scope_keys(text, jsonb) TO PUBLIC"
    assert (downgraded, reset_again) == (released, reset)
    assert back == "UPDATE drizzlesync.installation SET version = 28"


def test_every_change_to_version_30s_released_functions_applies() -> None:
    """Version 30 creates apply_deletes; re-creates version 28's push trying a batch as deletes after
    patches and puts, and version 19's apply_runs and apply_run with deletes as a kind of run and
    apply_deletes called for it; takes the SET clause of the last two off again, as version 28 did.
    Its downgrade re-creates the released text."""
    create, push, runs, run, *resets, installation = upgrade_script(30, "drizzlesync")
    assert create.startswith("CREATE FUNCTION drizzlesync.apply_deletes(scope_keys text[], mutations jsonb")
    assert installation == "UPDATE drizzlesync.installation SET version = 30"
    (released_push,) = [s for s in upgrade_script(28, "drizzlesync") if "FUNCTION drizzlesync.push(" in s]
    released = {
        name: s.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
        for s in upgrade_script(19, "drizzlesync")
        for name in ("apply_runs", "apply_run")
        if s.startswith(f"CREATE FUNCTION drizzlesync.{name}(")
    }
    puts = "OR drizzlesync.apply_puts(scope_keys, fresh, plans->(fresh->0->>'table'))"
    deletes = "\n            OR drizzlesync.apply_deletes(scope_keys, fresh, plans->(fresh->0->>'table'))"
    assert released_push.count(puts + ") THEN") == 1
    assert push == released_push.replace(puts + ") THEN", puts + deletes + ") THEN")
    kinds = ("('put', 'patch')", "('put', 'patch', 'delete')")
    assert released["apply_runs"].count(kinds[0]) == 1 and runs.count(kinds[1]) == 1
    assert "a delete, or a mutation push has" in released["apply_runs"]
    assert "a delete, or" not in runs
    called = "                WHEN 'delete' THEN drizzlesync.apply_deletes(scope_keys, batch, plan)\n"
    assert run.count(called) == 1 and run.replace(called, "") == released["apply_run"]
    assert resets == [
        "ALTER FUNCTION drizzlesync.apply_runs(text, text[], jsonb, jsonb) RESET search_path",
        "ALTER FUNCTION drizzlesync.apply_run(text, text[], jsonb, jsonb, boolean, boolean)"
        " RESET search_path",
    ]
    push_back, runs_back, run_back, *resets_back, drop, back = downgrade_script(30, "drizzlesync")
    assert (push_back, runs_back, run_back) == (released_push, released["apply_runs"], released["apply_run"])
    assert resets_back == resets
    assert drop == "DROP FUNCTION drizzlesync.apply_deletes(text[], jsonb, jsonb)"
    assert back == "UPDATE drizzlesync.installation SET version = 29"
