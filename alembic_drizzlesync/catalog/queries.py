"""The catalog queries: one per kind of object, each over every selected table at once.

They take arrays of oids rather than running per table, so introspecting a
few thousand columns costs the same handful of round trips as a few.
"""

SCHEMAS = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
ORDER BY nspname
"""

# Tables, views and materialized views; objects an extension created are the extension's business.
RELATIONS = """
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind, c.relrowsecurity AS row_security,
       coalesce(c.reloptions, '{}') AS options, obj_description(c.oid, 'pg_class') AS comment,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS definition
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition AND n.nspname = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend AS d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname
"""

# Sequences no column owns (serial and identity sequences belong to their column).
SEQUENCES = """
SELECT n.nspname AS schema, c.relname AS name, t.typname AS type_name,
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle
FROM pg_sequence AS s
JOIN pg_class AS c ON c.oid = s.seqrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
JOIN pg_type AS t ON t.oid = s.seqtypid
WHERE n.nspname = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend AS d
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
ORDER BY n.nspname, c.relname
"""

# Every enum of the schemas, used by a column or not (yet): drizzle-kit would drop one left out.
ENUMS = """
SELECT n.nspname AS schema, t.typname AS name,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum AS e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder) AS values
FROM pg_type AS t
JOIN pg_namespace AS n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND n.nspname = ANY(%(schemas)s)
  AND NOT EXISTS (SELECT 1 FROM pg_depend AS d
                  WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
"""

# A serial column is an integer column whose default draws from a sequence it owns.
COLUMNS = """
SELECT a.attrelid AS table_oid, a.attname AS name, a.atttypid AS type_oid, a.atttypmod AS typmod,
       a.attndims AS dimensions, NOT a.attnotnull AS nullable, a.attidentity AS identity,
       a.attgenerated AS generated, pg_get_expr(d.adbin, d.adrelid) AS default,
       col_description(a.attrelid, a.attnum) AS comment,
       seq.objid IS NOT NULL AND a.attidentity = '' AS serial,
       s.seqstart, s.seqincrement, s.seqmin, s.seqmax, s.seqcache, s.seqcycle
FROM pg_attribute AS a
LEFT JOIN pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN LATERAL (
    SELECT dep.objid FROM pg_depend AS dep
    JOIN pg_class AS sc ON sc.oid = dep.objid AND sc.relkind = 'S'
    WHERE dep.classid = 'pg_class'::regclass AND dep.refclassid = 'pg_class'::regclass
      AND dep.refobjid = a.attrelid AND dep.refobjsubid = a.attnum AND dep.deptype IN ('a', 'i')
    LIMIT 1
) AS seq ON true
LEFT JOIN pg_sequence AS s ON s.seqrelid = seq.objid
WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""

# Every type the columns use, with the domains and array elements they stand on.
TYPES = """
WITH RECURSIVE closure(oid) AS (
    SELECT unnest(%(oids)s::oid[])
    UNION
    SELECT v.next FROM closure AS c
    JOIN pg_type AS t ON t.oid = c.oid
    CROSS JOIN LATERAL (VALUES (nullif(t.typbasetype, 0)),
                               (CASE WHEN t.typcategory = 'A' THEN nullif(t.typelem, 0) END)) AS v(next)
    WHERE v.next IS NOT NULL
)
SELECT t.oid, n.nspname AS schema, t.typname AS name, t.typtype AS kind,
       CASE WHEN t.typcategory = 'A' THEN t.typelem END AS element,
       nullif(t.typbasetype, 0) AS base, t.typtypmod AS base_typmod, t.typndims AS base_dimensions,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum AS e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder) AS enum_values
FROM pg_type AS t
JOIN pg_namespace AS n ON n.oid = t.typnamespace
WHERE t.oid IN (SELECT oid FROM closure)
"""

FORMAT_TYPES = """
SELECT o AS oid, m AS typmod, format_type(o, nullif(m, -1)) AS sql
FROM unnest(%(oids)s::oid[], %(typmods)s::int[]) AS x(o, m)
"""

CONSTRAINTS = """
SELECT con.conrelid AS table_oid, con.conname AS name, con.contype AS kind,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute AS a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord) AS columns,
       fn.nspname AS target_schema, fc.relname AS target_table,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute AS a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.ord) AS target_columns,
       con.confupdtype AS on_update, con.confdeltype AS on_delete,
       CASE WHEN con.condeferred THEN 'DEFERRABLE INITIALLY DEFERRED'
            WHEN con.condeferrable THEN 'DEFERRABLE' END AS deferrable,
       CASE WHEN con.contype = 'c' THEN pg_get_expr(con.conbin, con.conrelid, true) END AS expression,
       coalesce((to_jsonb(ci) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct
FROM pg_constraint AS con
LEFT JOIN pg_class AS fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace AS fn ON fn.oid = fc.relnamespace
LEFT JOIN pg_index AS ci ON ci.indexrelid = con.conindid AND con.contype = 'u'
WHERE con.conrelid = ANY(%(oids)s) AND con.contype IN ('p', 'u', 'f', 'c')
ORDER BY con.conrelid, con.conname
"""

# Indexes that back a constraint are reported with the constraint instead. NULLS NOT DISTINCT
# (Postgres 15+) is read through to_jsonb, which older servers answer with NULL.
INDEXES = """
SELECT i.indrelid AS table_oid, ic.relname AS name, i.indisunique AS unique, am.amname AS method,
       pg_get_expr(i.indpred, i.indrelid, true) AS predicate, coalesce(ic.reloptions, '{}') AS storage,
       coalesce((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) AS nulls_not_distinct,
       ARRAY(SELECT a.attname::text FROM generate_series(i.indnkeyatts + 1, i.indnatts) AS k
             JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]
             ORDER BY k) AS included,
       ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) FROM generate_series(1, i.indnkeyatts) AS k
             ORDER BY k) AS expressions,
       ARRAY(SELECT a.attname::text FROM generate_series(1, i.indnkeyatts) AS k
             LEFT JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]
             ORDER BY k) AS columns,
       ARRAY(SELECT i.indoption[k - 1]::int FROM generate_series(1, i.indnkeyatts) AS k
             ORDER BY k) AS options,
       ARRAY(SELECT CASE WHEN NOT opc.opcdefault THEN opc.opcname::text END
             FROM generate_series(1, i.indnkeyatts) AS k
             JOIN pg_opclass AS opc ON opc.oid = i.indclass[k - 1]
             ORDER BY k) AS opclasses
FROM pg_index AS i
JOIN pg_class AS ic ON ic.oid = i.indexrelid
JOIN pg_am AS am ON am.oid = ic.relam
WHERE i.indrelid = ANY(%(oids)s)
  AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c
                  WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)
ORDER BY i.indrelid, ic.relname
"""

# Row-level security policies; no role (0) is PUBLIC.
POLICIES = """
SELECT p.polrelid AS table_oid, p.polname AS name, p.polpermissive AS permissive,
       CASE p.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update'
                     WHEN 'd' THEN 'delete' ELSE 'all' END AS command,
       ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'public' ELSE pg_get_userbyid(r.oid)::text END
             FROM unnest(p.polroles) WITH ORDINALITY AS r(oid, ord) ORDER BY r.ord) AS roles,
       pg_get_expr(p.polqual, p.polrelid) AS using, pg_get_expr(p.polwithcheck, p.polrelid) AS with_check
FROM pg_policy AS p
WHERE p.polrelid = ANY(%(oids)s)
ORDER BY p.polrelid, p.polname
"""
