"""`:user_uuid` in `user_scopes_query`: the user id as a uuid (null when it is not one), which lets a
table keyed by uuid be read through its index, so that resolving one user's scopes costs that
user's rows, not every user's."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from alembic_drizzlesync import localdb, ops
from alembic_drizzlesync.sql.user_scopes import USER_UUID, compile_query
from tests.support import apply_ops

BY_UUID = "SELECT 'team:' || team FROM public.people WHERE user_id = :user_uuid"
BY_TEXT = "SELECT 'team:' || team FROM public.people WHERE user_id::text = :user_id"
ANN = uuid.UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")
OTHERS = 10_000


@pytest.fixture
def people(db_url: str) -> str:
    """Ann in two teams, among OTHERS memberships of other users, analyzed; the library installed."""
    apply_ops(db_url, ops.InstallOp())
    with psycopg.connect(localdb.libpq_url(db_url), autocommit=True) as db:
        db.execute("CREATE TABLE people (user_id uuid, team text, PRIMARY KEY (user_id, team))")
        db.execute("INSERT INTO people VALUES (%s, 'a'), (%s, 'b')", (ANN, ANN))
        db.execute(f"INSERT INTO people SELECT gen_random_uuid(), 'other' FROM generate_series(1, {OTHERS})")
        db.execute("ANALYZE people")
    return db_url


def keys_and_reads(url: str, user_id: str) -> tuple[list[str], int, int]:
    """The pull's keys for `user_id`, and the rows of `people` its transaction read: by a sequential
    scan, and through an index (pg_stat_xact_user_tables counts the current transaction's)."""
    with psycopg.connect(localdb.libpq_url(url)) as conn:
        row = conn.execute("SELECT drizzlesync.user_scope_keys(%s, '{}')", (user_id,)).fetchone()
        reads = conn.execute(
            "SELECT seq_tup_read, coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
            "WHERE relname = 'people'"
        ).fetchone()
    assert row is not None and reads is not None
    return list(row[0]), reads[0], reads[1]


def test_user_uuid_compiles_to_a_guarded_cast_of_the_first_parameter() -> None:
    assert compile_query("SELECT 1 WHERE a = :user_uuid AND b = :user_id") == (
        f"SELECT 1 WHERE a = {USER_UUID} AND b = $1"
    )


def test_one_users_scopes_are_read_through_the_index_where_the_text_comparison_reads_every_row(
    people: str,
) -> None:
    apply_ops(people, ops.SetUserScopesOp(BY_TEXT))
    keys, scanned, _ = keys_and_reads(people, str(ANN))
    assert keys == ["team:a", "team:b"]
    assert scanned == OTHERS + 2  # every user's memberships, each uuid cast to text

    apply_ops(people, ops.SetUserScopesOp(BY_UUID, old_query=BY_TEXT))
    for _ in range(7):  # past the plan cache's five custom plans: the generic plan is read too
        keys, scanned, fetched = keys_and_reads(people, str(ANN))
        assert keys == ["team:a", "team:b"]
        assert (scanned, fetched) == (0, 2)


@pytest.mark.parametrize(
    "user_id",
    [
        "ann",
        "",
        "-" * 36,
        str(ANN).replace("-", ""),  # a spelling uuid_in takes, which the shape test does not
        "{" + str(ANN) + "}",
        str(ANN)[:-1] + "g",
        str(ANN) + " ",
        str(ANN) + "-",
        str(ANN)[:7] + "-" + str(ANN)[7] + str(ANN)[9:],  # a hyphen moved, 36 characters still
    ],
)
def test_an_id_that_is_not_a_uuid_holds_no_key_and_raises_nothing(people: str, user_id: str) -> None:
    apply_ops(people, ops.SetUserScopesOp(BY_UUID))
    assert keys_and_reads(people, user_id)[0] == []


def test_a_uuid_in_capitals_is_the_same_user(people: str) -> None:
    apply_ops(people, ops.SetUserScopesOp(BY_UUID))
    assert keys_and_reads(people, str(ANN).upper())[0] == ["team:a", "team:b"]
