"""Version 10 re-creates version 8's `snapshot_rows` and `snapshot_page` from their released text
through `replace` filters, which change nothing when their text is not found: each must apply."""

from __future__ import annotations

from alembic_drizzlesync.templating import environment


def test_every_change_to_version_8s_snapshot_text_applies() -> None:
    upgrade = environment().get_template("sql/v10/upgrade.sql.j2").render(schema="drizzlesync")
    rows = upgrade.split("CREATE FUNCTION drizzlesync.snapshot_rows(", 1)[1].split("$fn$;", 1)[0]
    page = upgrade.split("CREATE OR REPLACE FUNCTION drizzlesync.snapshot_page(", 1)[1].split("$fn$;", 1)[0]
    assert "sorted boolean DEFAULT false,\n" in rows and "OUT last_tid tid)" in rows
    assert "SET enable_sort = off\nSET jit = off\n" in rows
    assert "max(cur.tid) '" in rows and "t.ctid AS tid FROM" in rows
    assert "ORDER BY %10$s" not in rows and "'t.ctid > $7 AND t.ctid < $8'" in rows
    assert "THEN 'ORDER BY t.ctid'" in rows
    assert "INTO changes, taken, last_pk, last_scope, last_tid\n" in rows
    assert "after_pk, room, after_tid, until_tid;\n" in rows
    assert "    piece_last_tid tid;\nBEGIN\n" in page
    assert "drizzlesync.snapshot_in_place(s, st.snap_keys, room, st.estimated_total)" in page
    assert page.index("CONTINUE tables;") < page.index("inside := ")
