"""Client migrations: the SQLite DDL of the synced tables, the outbox, and one step per schema version.

Each generation records the SQLite shape of the synced tables (`shape`)
under the current schema version in `history.json` (`history`). A step is
the difference between two recorded shapes (`steps`), so an installed client
moves from N to N+1 with its outbox untouched; the outbox triggers are
`triggers`.
"""
