"""schema.postgres.ts says what the database holds, whatever the shape of its schemas."""

from __future__ import annotations

from pathlib import Path

from .conftest import generate_into


def test_schemas_of_views_or_sequences_only(fixture_url: str, tmp_path: Path) -> None:
    postgres = generate_into(fixture_url, tmp_path)["schema.postgres.ts"]
    assert 'export const reportsSchema = pgSchema("reports");' in postgres
    assert 'export const reportsTextMoods = reportsSchema.view("text_moods", {' in postgres
    assert 'export const countersSchema = pgSchema("counters");' in postgres
    assert 'export const countersTickets = countersSchema.sequence("tickets");' in postgres
