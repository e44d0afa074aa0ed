"""A partitioned table is synced as its parent: autogenerate and `op.enable_sync` leave partitions out."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Date, Integer, MetaData, Table, Text
from sqlalchemy.exc import DBAPIError

from alembic_drizzlesync import ops
from alembic_drizzlesync.config import ConfigError, parse_config
from alembic_drizzlesync.sql import LIBRARY_VERSION
from tests.support import apply_ops, autogenerate, execute, migrate

PARTITIONED_TABLES = (
    "CREATE TABLE events (id integer, at date, title text, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)",
    "CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
    # A partition partitioned in turn: its own partitions are partitions of events too.
    "CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') "
    "PARTITION BY RANGE (id)",
    "CREATE TABLE events_2025_low PARTITION OF events_2025 FOR VALUES FROM (0) TO (1000)",
    "INSERT INTO events VALUES (1, '2024-05-01', 'spring'), (2, '2025-05-01', 'next spring')",
)
PARTITIONS = ("events_2024", "events_2025", "events_2025_low")
EVERY_EVENT_TABLE = parse_config({"include": ["events*"]})


def models(*names: str) -> MetaData:
    """The models as a project keeps them when its partitions are tables of their own in the models too
    (else autogenerate would propose dropping them), or as `MetaData.reflect()` gives them."""
    metadata = MetaData()
    for name in names:
        Table(
            name,
            metadata,
            Column("id", Integer, primary_key=True),
            Column("at", Date, primary_key=True),
            Column("title", Text),
        )
    return metadata


def test_autogenerate_enables_capture_on_the_parent_alone(db_url: str) -> None:
    execute(db_url, *PARTITIONED_TABLES)
    script = autogenerate(db_url, models("events", *PARTITIONS), EVERY_EVENT_TABLE)
    assert script.upgrade_ops is not None
    enabled = [o.table_name for o in script.upgrade_ops.ops if isinstance(o, ops.EnableSyncOp)]
    assert enabled == ["events"]


def test_a_partition_selected_without_its_parent_is_an_error_naming_the_parent(db_url: str) -> None:
    execute(db_url, *PARTITIONED_TABLES)
    only_partitions = parse_config({"include": ["events_2025_*"]})
    with pytest.raises(ConfigError, match="public.events_2025_low is a partition of public.events.*select "):
        autogenerate(db_url, models("events", *PARTITIONS), only_partitions)


def test_a_registered_partition_is_disabled_by_the_next_revision(db_url: str) -> None:
    """What earlier releases' autogenerate did: capture on the partitions as well, under their own names.
    Disabling one leaves it without triggers, so the revision then captures it under the parent."""
    execute(db_url, *PARTITIONED_TABLES)
    apply_ops(db_url, ops.InstallOp(4), ops.EnableSyncOp("events"), ops.BumpSchemaVersionOp(1))
    execute(db_url, "SELECT drizzlesync.enable_sync('public', 'events_2024')")
    script = autogenerate(db_url, models("events", *PARTITIONS), EVERY_EVENT_TABLE)
    assert script.upgrade_ops is not None
    assert script.upgrade_ops.ops == [
        *(ops.UpgradeOp(version, version + 1) for version in range(4, LIBRARY_VERSION)),
        ops.DisableSyncOp("events_2024"),
        ops.CapturePartitionsOp("events"),
        ops.BumpSchemaVersionOp(2),
    ]
    migrate(db_url, models("events", *PARTITIONS), EVERY_EVENT_TABLE)
    again = autogenerate(db_url, models("events", *PARTITIONS), EVERY_EVENT_TABLE)
    assert again.upgrade_ops is not None and again.upgrade_ops.ops == []


@pytest.mark.parametrize("partition", PARTITIONS)
def test_enable_sync_on_a_partition_fails_naming_the_parent(db_url: str, partition: str) -> None:
    execute(db_url, *PARTITIONED_TABLES)
    apply_ops(db_url, ops.InstallOp())
    parent = "events_2025" if partition == "events_2025_low" else "events"
    with pytest.raises(DBAPIError, match=rf"table public\.{partition} is a partition of public\.{parent};"):
        apply_ops(db_url, ops.EnableSyncOp(partition))
    apply_ops(db_url, ops.EnableSyncOp("events"))  # the guard lets a table that is no partition through
