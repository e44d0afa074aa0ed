-- DrizzleSync library objects, version 1.
-- Rendered into migrations by op.install_drizzlesync(version=1). A released
-- version is never edited: the next one ships an upgrade script instead.
CREATE SCHEMA drizzlesync;

-- One row: which version of these objects is installed, and the database
-- epoch that sync cursors carry so that a restore forces clients to reset.
CREATE TABLE drizzlesync.installation (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version integer NOT NULL,
    epoch uuid NOT NULL DEFAULT gen_random_uuid(),
    installed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO drizzlesync.installation (version) VALUES (1);

-- The registry of synced tables. Ids are handed out as max + 1, so that a
-- downgrade followed by an upgrade recreates identical objects; a disabled
-- table's log entries go with it, so a reused id never inherits them.
CREATE TABLE drizzlesync.synced_table (
    id integer PRIMARY KEY,
    schema_name name NOT NULL,
    table_name name NOT NULL,
    pk_columns name[] NOT NULL CHECK (cardinality(pk_columns) > 0),
    scope_rule text,
    UNIQUE (schema_name, table_name)
);

-- Client-visible schema versions; the client handshake compares against these.
CREATE TABLE drizzlesync.schema_version (
    version integer PRIMARY KEY CHECK (version > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Dirty keys, not row images: pull reads the current row for each key.
-- op: I insert, U update, D delete, T truncate (a reset of the whole table).
-- The one index is the pull order, (txid, seq). `seq` only orders the
-- entries of one transaction: each session caches 32 numbers of it, so
-- across sessions it follows neither commit nor write order. Nothing needs
-- more (pull orders by txid first, and one transaction is one session), and
-- the cache took a 100,000-row INSERT from 1.96x to 1.88x the time without
-- capture and saves a single-row write ~0.5 µs of server time.
CREATE TABLE drizzlesync.change_log (
    txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq bigint GENERATED ALWAYS AS IDENTITY (CACHE 32),
    table_id integer NOT NULL,
    op "char" NOT NULL,
    pk jsonb,
    scope_before text,
    scope_after text,
    client_id text,
    PRIMARY KEY (txid, seq)
);

-- Capture is one statement-level trigger function per synced table, all
-- made from the template below. Static SQL lets PL/pgSQL keep its plans,
-- which a single function running EXECUTE cannot: we measured ~45 µs per
-- write that way against 5-15 µs with static SQL. The function names
-- only the key columns and the scope rule, so adding or dropping any other
-- column never touches capture. An UPDATE pairs old and new rows by primary
-- key, never by position: a key on one side only was moved, and both are logged.
-- The pairing compares the key columns' text forms, which works for every
-- key type under the fixed search_path (not every type has an `=` in
-- pg_catalog) and, unlike comparing jsonb keys, builds each key's jsonb once,
-- for the log row only: a 20,000-row UPDATE went from 3.0x to 2.2x the time
-- without capture. Equal text means equal key for every key type we know of
-- (floats print exactly unless a session lowers extra_float_digits, and
-- jsonb rounds them to 15 digits anyway); equal keys whose text differs, such
-- as numeric 1.0 and 1.00, are logged as a move, which logs both: safe.
--
-- What capture adds to a single-row write, in server time (one session,
-- synchronous_commit off; the INSERT alone takes ~6 µs): ~10 µs to an INSERT,
-- ~15 µs to an UPDATE. The log INSERT is most of it (~6.5 µs, the (txid, seq)
-- index ~1.5 µs of that); firing the trigger with its transition tables ~1 µs
-- (~2 µs for UPDATE, which keeps the old rows too); the UPDATE's hash join
-- ~3 µs. The SET search_path costs ~1.5 µs (~3% of pgbench throughput) and
-- stays: a scope rule is the user's SQL, planned under the caller's
-- search_path unless the function fixes it, so without the SET a caller
-- could put its own operators and functions in front of pg_catalog and have
-- them run as the owner of this SECURITY DEFINER function.
CREATE FUNCTION drizzlesync.capture_function_sql(synced drizzlesync.synced_table) RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    key text := format('jsonb_build_object(%s)',
                       (SELECT string_agg(format('%L, %I', c, c), ', ') FROM unnest(synced.pk_columns) AS c));
    scope text := CASE WHEN synced.scope_rule IS NULL THEN 'NULL::text'
                       ELSE format('(%s)::text', synced.scope_rule) END;
    -- For UPDATE: each side's key columns renamed k1, k2, … (no clash with
    -- the table's own names), the match on their text forms, and the key of
    -- either side as jsonb.
    key_columns text := (SELECT string_agg(format('%I', c), ', ' ORDER BY i)
                         FROM unnest(synced.pk_columns) WITH ORDINALITY AS k(c, i));
    renamed text := (SELECT string_agg('k' || i, ', ' ORDER BY i)
                     FROM unnest(synced.pk_columns) WITH ORDINALITY AS k(c, i));
    same_key text := (SELECT string_agg(format('n.k%s::text = o.k%s::text', i, i), ' AND ' ORDER BY i)
                      FROM unnest(synced.pk_columns) WITH ORDINALITY AS k(c, i));
    old_key text := format('jsonb_build_object(%s)',
                           (SELECT string_agg(format('%L, o.k%s', c, i), ', ' ORDER BY i)
                            FROM unnest(synced.pk_columns) WITH ORDINALITY AS k(c, i)));
    new_key text := format('jsonb_build_object(%s)',
                           (SELECT string_agg(format('%L, n.k%s', c, i), ', ' ORDER BY i)
                            FROM unnest(synced.pk_columns) WITH ORDINALITY AS k(c, i)));
BEGIN
    RETURN format($template$
CREATE OR REPLACE FUNCTION drizzlesync.capture_%1$s() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $body$
-- Capture for %2$I.%3$I, generated by drizzlesync.enable_sync: do not edit.
DECLARE
    txid xid8;
    client text;
BEGIN
    -- Bulk maintenance may opt out explicitly: SET drizzlesync.skip_capture = on.
    IF current_setting('drizzlesync.skip_capture', true) = 'on' THEN
        RETURN NULL;
    END IF;
    txid := pg_current_xact_id();
    client := nullif(current_setting('drizzlesync.client_id', true), '');
    IF TG_OP = 'INSERT' THEN
        INSERT INTO drizzlesync.change_log (txid, table_id, op, pk, scope_after, client_id)
        SELECT txid, %1$s, 'I', %4$s, %5$s, client FROM drizzlesync_new;
    ELSIF TG_OP = 'UPDATE' THEN
        -- Key columns are NOT NULL, so a NULL k1 is a key on the other side only.
        INSERT INTO drizzlesync.change_log (txid, table_id, op, pk, scope_before, scope_after, client_id)
        SELECT txid, %1$s, CASE WHEN n.k1 IS NULL THEN 'D' WHEN o.k1 IS NULL THEN 'I' ELSE 'U' END,
               CASE WHEN n.k1 IS NULL THEN %9$s ELSE %10$s END, o.scope, n.scope, client
        FROM (SELECT %6$s, %5$s FROM drizzlesync_old) AS o(%7$s, scope)
        FULL JOIN (SELECT %6$s, %5$s FROM drizzlesync_new) AS n(%7$s, scope) ON %8$s;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO drizzlesync.change_log (txid, table_id, op, pk, scope_before, client_id)
        SELECT txid, %1$s, 'D', %4$s, %5$s, client FROM drizzlesync_old;
    ELSE
        INSERT INTO drizzlesync.change_log (txid, table_id, op, client_id) VALUES (txid, %1$s, 'T', client);
    END IF;
    RETURN NULL;
END
$body$
$template$, synced.id, synced.schema_name, synced.table_name, key, scope,
                  key_columns, renamed, same_key, old_key, new_key);
END
$fn$;

-- Fail at migration time, with the rule in the message, rather than on the
-- first write after it.
CREATE FUNCTION drizzlesync.check_scope_rule(target regclass, scope_rule text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF scope_rule IS NOT NULL THEN
        EXECUTE format('SELECT (%s)::text FROM %s LIMIT 0', scope_rule, target);
    END IF;
EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'drizzlesync: scope rule % of % is not a valid expression: %',
        quote_literal(scope_rule), target, SQLERRM;
END
$fn$;

-- Start capturing a table. The primary key is read from the catalog when the
-- migration runs, so rendering the migration needs no database access.
CREATE FUNCTION drizzlesync.enable_sync(table_schema name, table_name name, scope_rule text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    target regclass := format('%I.%I', table_schema, table_name)::regclass;
    pk name[];
    synced drizzlesync.synced_table;
BEGIN
    SELECT array_agg(a.attname ORDER BY k.ord) INTO pk
    FROM pg_index AS i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = target AND i.indisprimary;
    IF pk IS NULL THEN
        RAISE EXCEPTION 'drizzlesync: table %.% has no primary key and cannot be synced', table_schema, table_name;
    END IF;
    PERFORM drizzlesync.check_scope_rule(target, scope_rule);
    INSERT INTO drizzlesync.synced_table (id, schema_name, table_name, pk_columns, scope_rule)
    SELECT coalesce(max(s.id), 0) + 1, enable_sync.table_schema, enable_sync.table_name, pk,
           enable_sync.scope_rule
    FROM drizzlesync.synced_table AS s
    RETURNING * INTO synced;
    EXECUTE drizzlesync.capture_function_sql(synced);
    EXECUTE format('CREATE TRIGGER drizzlesync_capture_insert AFTER INSERT ON %s '
                   'REFERENCING NEW TABLE AS drizzlesync_new '
                   'FOR EACH STATEMENT EXECUTE FUNCTION drizzlesync.capture_%s()', target, synced.id);
    EXECUTE format('CREATE TRIGGER drizzlesync_capture_update AFTER UPDATE ON %s '
                   'REFERENCING OLD TABLE AS drizzlesync_old NEW TABLE AS drizzlesync_new '
                   'FOR EACH STATEMENT EXECUTE FUNCTION drizzlesync.capture_%s()', target, synced.id);
    EXECUTE format('CREATE TRIGGER drizzlesync_capture_delete AFTER DELETE ON %s '
                   'REFERENCING OLD TABLE AS drizzlesync_old '
                   'FOR EACH STATEMENT EXECUTE FUNCTION drizzlesync.capture_%s()', target, synced.id);
    EXECUTE format('CREATE TRIGGER drizzlesync_capture_truncate AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION drizzlesync.capture_%s()', target, synced.id);
END
$fn$;

-- Change the scope rule of a synced table: its capture function is rebuilt,
-- the triggers stay as they are.
CREATE FUNCTION drizzlesync.set_sync_scope(table_schema name, table_name name, scope_rule text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    synced drizzlesync.synced_table;
BEGIN
    PERFORM drizzlesync.check_scope_rule(format('%I.%I', table_schema, table_name)::regclass, scope_rule);
    UPDATE drizzlesync.synced_table AS s SET scope_rule = set_sync_scope.scope_rule
    WHERE s.schema_name = set_sync_scope.table_schema AND s.table_name = set_sync_scope.table_name
    RETURNING * INTO synced;
    IF synced.id IS NULL THEN
        RAISE EXCEPTION 'drizzlesync: table %.% is not synced', table_schema, table_name;
    END IF;
    EXECUTE drizzlesync.capture_function_sql(synced);
END
$fn$;

-- Stop capturing a table: its triggers, capture function and log entries go.
CREATE FUNCTION drizzlesync.disable_sync(table_schema name, table_name name)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    synced_id integer;
BEGIN
    DELETE FROM drizzlesync.synced_table AS s
    WHERE s.schema_name = disable_sync.table_schema AND s.table_name = disable_sync.table_name
    RETURNING s.id INTO synced_id;
    IF synced_id IS NULL THEN
        RAISE EXCEPTION 'drizzlesync: table %.% is not synced', table_schema, table_name;
    END IF;
    DELETE FROM drizzlesync.change_log WHERE table_id = synced_id;
    EXECUTE format('DROP FUNCTION drizzlesync.capture_%s() CASCADE', synced_id);
END
$fn$;

-- The wire form of column values, as the code generator's type map assigns
-- codecs (alembic_drizzlesync/codegen/typemap.py, docs/codegen.md "Wire
-- format"). Most values already travel as to_json gives them and as
-- jsonb_populate_record takes them; these functions cover the rest:
-- numerics and other text-codec values whose JSON would not be their text,
-- arrays of text-codec elements, and point/line as objects.
-- Everything is derived from the catalog when a pull or push runs, never
-- stored per table, so adding or altering a column needs no migration here.

-- A column type with its domains resolved: the base type of a scalar, or the
-- base element type of an array (of a domain, or a domain over an array).
CREATE FUNCTION drizzlesync.wire_type(type_oid oid, OUT element oid, OUT is_array boolean)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    t pg_type;
BEGIN
    element := type_oid;
    is_array := false;
    LOOP
        SELECT * INTO STRICT t FROM pg_type WHERE oid = element;
        IF t.typtype = 'd' THEN
            element := t.typbasetype;
        ELSIF t.typcategory = 'A' AND t.typelem <> 0 AND t.typlen = -1 THEN
            element := t.typelem;
            is_array := true;
        ELSE
            RETURN;
        END IF;
    END LOOP;
END
$fn$;

-- The wire objects of a point[] ('{x,y}') or line[] ('{a,b,c}') from to_jsonb
-- of the column, whose elements are their text forms "(1,2)" and "{1,2,3}",
-- whatever its dimensions. (Scalars are built inline, which is cheaper.)
CREATE FUNCTION drizzlesync.geometry_to_wire(value jsonb, fields text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    CASE jsonb_typeof(value)
    WHEN 'array' THEN
        RETURN (SELECT coalesce(jsonb_agg(drizzlesync.geometry_to_wire(e.value, fields) ORDER BY e.i), '[]')
                FROM jsonb_array_elements(value) WITH ORDINALITY AS e(value, i));
    WHEN 'string' THEN
        RETURN (SELECT jsonb_object_agg(u.field, to_jsonb(u.number))
                FROM unnest(fields, string_to_array(btrim(value #>> '{}', '(){}'), ',')::float8[])
                     AS u(field, number));
    ELSE
        RETURN value;
    END CASE;
END
$fn$;

-- The inverse for pushed values: the object form, and nothing else, becomes
-- the text form that jsonb_populate_record reads. Anything else is a bad
-- value (SQLSTATE 22P02), which push rejects like any other.
CREATE FUNCTION drizzlesync.geometry_from_wire(value jsonb, fields text[]) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    numbers text;
BEGIN
    IF jsonb_typeof(value) = 'null' THEN
        RETURN value;
    ELSIF jsonb_typeof(value) = 'array' THEN
        RETURN (SELECT coalesce(jsonb_agg(drizzlesync.geometry_from_wire(e.value, fields) ORDER BY e.i),
                                '[]')
                FROM jsonb_array_elements(value) WITH ORDINALITY AS e(value, i));
    -- Exactly the fields, numbers only (or the float codec's non-finite
    -- strings), so that no text can reshape the literal built from them.
    ELSIF jsonb_typeof(value) = 'object'
          AND ARRAY(SELECT k FROM jsonb_object_keys(value) AS k ORDER BY k) = fields
          AND NOT EXISTS (SELECT FROM unnest(fields) AS f
                          WHERE jsonb_typeof(value->f) <> 'number'
                            AND value->>f NOT IN ('NaN', 'Infinity', '-Infinity')) THEN
        numbers := (SELECT string_agg(value->>f, ',' ORDER BY o)
                    FROM unnest(fields) WITH ORDINALITY AS u(f, o));
        RETURN to_jsonb(CASE cardinality(fields) WHEN 2 THEN '(' || numbers || ')'
                                                ELSE '{' || numbers || '}' END);
    END IF;
    RAISE EXCEPTION 'invalid wire value %: expected an object with the numbers %',
        value, array_to_string(fields, ', ')
    USING ERRCODE = 'invalid_text_representation';
END
$fn$;

-- The object fields of a point or line column (scalar or array), else NULL.
CREATE FUNCTION drizzlesync.geometry_fields(type_oid oid) RETURNS text[]
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE w.element WHEN 'point'::regtype THEN '{x,y}'::text[] WHEN 'line'::regtype THEN '{a,b,c}' END
    FROM drizzlesync.wire_type(type_oid) AS w
$fn$;

-- The types whose to_json is their wire form, as scalars and in arrays.
CREATE FUNCTION drizzlesync.json_ready_types() RETURNS regtype[]
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT '{int2,int4,int8,float4,float8,bool,json,jsonb,bytea,text,varchar,bpchar,uuid,'
           'date,time,timetz,interval,inet,cidr,macaddr,macaddr8}'::regtype[]
$fn$;

-- The wire value of the column `ref` (SQL text) of type type_oid, or NULL
-- where to_json of the row already gives it: for the non-text codecs
-- (bytea as its hex string), and for text-codec types whose JSON is their
-- text. Timestamps are in date mode, ISO; in arrays the type map uses string
-- mode, Postgres' text form. Any other text-codec value goes as ::text
-- (numeric would be a JSON number that JSON.parse rounds, a composite an
-- object, a type with a cast to json its JSON), in arrays as ::text[].
CREATE FUNCTION drizzlesync.wire_expression(type_oid oid, ref text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE
        WHEN fields IS NOT NULL AND w.is_array THEN
            format('drizzlesync.geometry_to_wire(to_jsonb(%s), %L)', ref, fields)
        WHEN fields IS NOT NULL THEN
            format('CASE WHEN %s IS NOT NULL THEN json_build_object(%s) END', ref,
                   (SELECT string_agg(format('%L, (%s)[%s]', f, ref, o - 1), ', ' ORDER BY o)
                    FROM unnest(fields) WITH ORDINALITY AS u(f, o)))
        WHEN e.typtype = 'e' OR w.element = ANY (drizzlesync.json_ready_types())
          OR (w.element = ANY ('{timestamp,timestamptz}'::regtype[]) AND NOT w.is_array) THEN NULL
        WHEN w.is_array THEN format('(%s)::text[]', ref)
        ELSE format('(%s)::text', ref) END
    FROM drizzlesync.wire_type(type_oid) AS w
    JOIN pg_type AS e ON e.oid = w.element
    CROSS JOIN LATERAL (SELECT drizzlesync.geometry_fields(type_oid) AS fields) AS g
$fn$;

-- The pull row image of the table row under `alias`, as SQL text: to_json of
-- the row when every column already has its wire form (the common, cheapest
-- case), else a row of wire values under the column names. A subselect
-- rather than json_build_object, which takes at most 50 columns. Rows are
-- named `alias.*`: a bare alias would mean a column of that name if the
-- table has one.
--
-- Pulls build it for every page, so the common case costs one catalog query:
-- no column of a domain, array or other type that needs a wire expression.
CREATE FUNCTION drizzlesync.row_image_sql(target regclass, alias text) RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE
        WHEN NOT EXISTS (
            SELECT FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid
            WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND t.typtype <> 'e'
              AND a.atttypid <> ALL (drizzlesync.json_ready_types() || '{timestamp,timestamptz}'::regtype[]))
        THEN format('to_json(%I.*)', alias)
        ELSE (SELECT CASE WHEN count(w.expression) = 0 THEN format('to_json(%I.*)', alias)
                          ELSE format('(SELECT to_json(drizzlesync_row.*) FROM (SELECT %s) AS drizzlesync_row)',
                                      string_agg(format('%s AS %I', coalesce(w.expression, c.ref), a.attname),
                                                 ', ' ORDER BY a.attnum)) END
              FROM pg_attribute AS a
              CROSS JOIN LATERAL (SELECT format('%I.%I', alias, a.attname) AS ref) AS c
              CROSS JOIN LATERAL (SELECT drizzlesync.wire_expression(a.atttypid, c.ref) AS expression) AS w
              WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped) END
$fn$;

-- The columns of a table whose pushed values need converting before
-- jsonb_populate_record reads them: {column: object fields}, '{}' for none.
-- Every push asks, so a table without a domain, array, point or line column
-- costs one catalog query.
CREATE FUNCTION drizzlesync.wire_decoders(target regclass) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE
        WHEN NOT EXISTS (
            SELECT FROM pg_attribute AS a JOIN pg_type AS t ON t.oid = a.atttypid
            WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped
              AND (t.typtype = 'd' OR t.typcategory = 'A' OR a.atttypid IN ('point'::regtype, 'line'::regtype)))
        THEN '{}'
        ELSE (SELECT coalesce(jsonb_object_agg(a.attname, g.fields), '{}')
              FROM pg_attribute AS a
              CROSS JOIN LATERAL (SELECT drizzlesync.geometry_fields(a.atttypid) AS fields) AS g
              WHERE a.attrelid = target AND a.attnum > 0 AND NOT a.attisdropped AND g.fields IS NOT NULL) END
$fn$;

-- Pushed values (a mutation's `values`) in the form jsonb_populate_record
-- reads, given the table's wire_decoders.
CREATE FUNCTION drizzlesync.values_from_wire(row_values jsonb, decoders jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT row_values || coalesce(jsonb_object_agg(d.key, drizzlesync.geometry_from_wire(
                                      row_values->d.key, ARRAY(SELECT jsonb_array_elements_text(d.value)))),
                                  '{}')
    FROM jsonb_each(decoders) AS d
    WHERE row_values ? d.key
$fn$;


-- The sync protocol (push, pull, compaction) as SQL functions, so that every
-- host (the Python ASGI app, a Worker) only authenticates, validates the JSON
-- shape, calls one function and returns its JSON.
--
-- Errors a client caused are raised with SQLSTATE DZ<http status> and a JSON
-- DETAIL ({"code", "path", ...}); hosts map them to responses verbatim.
-- Identifiers reach SQL only from the registry and the catalog, quoted with
-- format('%I'); a table or column name sent by a client is only ever compared
-- against them.

-- Per-client push state. A client id belongs to the first user that uses it,
-- so that no one can advance (or read) another user's mutation counter.
CREATE TABLE drizzlesync.client (
    client_id text PRIMARY KEY,
    user_id text NOT NULL,
    last_mutation_id bigint NOT NULL DEFAULT 0 CHECK (last_mutation_id >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    pushed_at timestamptz
);

-- Mutations that failed permanently. Their ids still advanced; the rows stay
-- so that a client whose push response was lost learns about them on retry.
CREATE TABLE drizzlesync.rejection (
    client_id text NOT NULL REFERENCES drizzlesync.client ON DELETE CASCADE,
    mutation_id bigint NOT NULL,
    code text NOT NULL,
    message text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, mutation_id)
);

-- Pull cursors live here; a client holds only an opaque token naming a row.
-- Keeping them server side makes the live cursors known to compaction, lets a
-- retried pull with the previous token read the same state again, and keeps
-- scope keys out of the client's reach.
--   base:        every relevant change visible in this snapshot was delivered
--   scope_keys:  the scope keys whose rows the client holds
--   extra_keys:  keys the client lost; still relevant for one more window so
--                that rows which moved out of them arrive as deletes
--   target/pos:  an open window (changes visible in target, not in base),
--                paged by (txid, seq)
--   snap_*:      an open snapshot of the rows under snap_keys (all rows of
--                unscoped tables too when snap_all), paged by table and key
--   schema_version: the client schema version the rows were served under
CREATE TABLE drizzlesync.pull_cursor (
    id uuid PRIMARY KEY,
    client_id text NOT NULL REFERENCES drizzlesync.client ON DELETE CASCADE,
    user_id text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    base pg_snapshot NOT NULL,
    scope_keys text[] NOT NULL,
    extra_keys text[] NOT NULL DEFAULT '{}',
    last_mutation_id bigint NOT NULL,
    target pg_snapshot,
    pos_txid xid8,
    pos_seq bigint,
    snap_keys text[],
    snap_all boolean,
    snap_table integer,
    snap_pk jsonb,
    schema_version integer NOT NULL
);
CREATE INDEX pull_cursor_client ON drizzlesync.pull_cursor (client_id, created_xid);

-- Change-log entries with txid <= compacted_through are gone; a cursor whose
-- base does not cover them must reset.
CREATE TABLE drizzlesync.compaction (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    compacted_through xid8 NOT NULL DEFAULT '0',
    compacted_at timestamptz
);
INSERT INTO drizzlesync.compaction DEFAULT VALUES;

-- One pull step's result: the advanced cursor state and the changes it produced.
CREATE TYPE drizzlesync.pull_step AS (state drizzlesync.pull_cursor, changes json, taken integer, reset boolean);

-- The name a table has on the wire: bare in schema public, qualified elsewhere.
CREATE FUNCTION drizzlesync.wire_name(schema_name name, table_name name) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN schema_name = 'public' THEN table_name::text ELSE schema_name || '.' || table_name END
$fn$;

-- 'a.x, a.y' for columns under an alias, or 'x, y' without one.
CREATE FUNCTION drizzlesync.column_list(columns name[], alias text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT string_agg(CASE WHEN alias IS NULL THEN format('%I', c) ELSE format('%I.%I', alias, c) END,
                      ', ' ORDER BY o)
    FROM unnest(columns) WITH ORDINALITY AS u(c, o)
$fn$;

-- The scope key of a row as SQL over its bare column names ('NULL::text' when unscoped).
CREATE FUNCTION drizzlesync.scope_expression(scope_rule text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN scope_rule IS NULL THEN 'NULL::text' ELSE format('(%s)::text', scope_rule) END
$fn$;

-- A condition comparing the key of the row under alias t with the jsonb key
-- in `param` (= or >). Each field is cast to its column's type, so that the
-- primary key index serves the comparison whatever the types are.
CREATE FUNCTION drizzlesync.key_condition(target regclass, pk_columns name[], param text,
                                           operator text DEFAULT '=')
RETURNS text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT format('(%s) %s (%s)', drizzlesync.column_list(pk_columns, 't'), operator,
                  string_agg(format('(%s->>%L)::%s', param, u.c, format_type(a.atttypid, a.atttypmod)), ', '
                             ORDER BY u.o))
    FROM unnest(pk_columns) WITH ORDINALITY AS u(c, o)
    JOIN pg_attribute AS a ON a.attrelid = target AND a.attname = u.c
$fn$;

-- Join non-empty JSON arrays (as json_agg made them) into one. The common
-- case, a single one, is returned as it is: no copy, no re-parse.
CREATE FUNCTION drizzlesync.json_concat(pieces json[]) RETURNS json
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF coalesce(cardinality(pieces), 0) = 0 THEN
        RETURN '[]';
    ELSIF cardinality(pieces) = 1 THEN
        RETURN pieces[1];
    END IF;
    RETURN ('[' || (SELECT string_agg(substr(p::text, 2, length(p::text) - 2), ',') FROM unnest(pieces) AS p)
            || ']')::json;
END
$fn$;

CREATE FUNCTION drizzlesync.protocol_error(status integer, code text, message text, path text DEFAULT NULL,
                                            extra jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'DZ' || status::text,
        MESSAGE = message,
        DETAIL = (jsonb_strip_nulls(jsonb_build_object('code', code, 'path', path)) || extra)::text;
END
$fn$;

-- The client schema versions this database serves. Only the newest for now:
-- a client on any other version must migrate (or wait for the server) first.
CREATE FUNCTION drizzlesync.supported_schema_versions() RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT jsonb_build_object('min', max(version), 'max', max(version)) FROM drizzlesync.schema_version
$fn$;

CREATE FUNCTION drizzlesync.check_schema_version(client_version integer) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    supported jsonb := drizzlesync.supported_schema_versions();
BEGIN
    IF supported->>'max' IS NULL
       OR client_version NOT BETWEEN (supported->>'min')::integer AND (supported->>'max')::integer THEN
        PERFORM drizzlesync.protocol_error(409, 'schema_version_unsupported',
            format('schema version %s is not served here; supported: %s to %s',
                   client_version, supported->>'min', supported->>'max'),
            'schemaVersion', jsonb_build_object('supported', supported));
    END IF;
END
$fn$;

-- Find or create the client row, refusing a client id that another user owns.
-- Returns the client's last applied mutation id (locked when `for_push`).
CREATE FUNCTION drizzlesync.bind_client(client_id text, user_id text, for_push boolean) RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    owner text;
    last_id bigint;
BEGIN
    INSERT INTO drizzlesync.client AS c (client_id, user_id) VALUES (bind_client.client_id, bind_client.user_id)
    ON CONFLICT DO NOTHING;
    IF for_push THEN
        SELECT c.user_id, c.last_mutation_id INTO owner, last_id
        FROM drizzlesync.client AS c WHERE c.client_id = bind_client.client_id FOR UPDATE;
    ELSE
        SELECT c.user_id, c.last_mutation_id INTO owner, last_id
        FROM drizzlesync.client AS c WHERE c.client_id = bind_client.client_id;
    END IF;
    IF owner IS DISTINCT FROM bind_client.user_id THEN
        PERFORM drizzlesync.protocol_error(403, 'client_id_taken',
            'this client id belongs to another user; generate a new one', 'clientId');
    END IF;
    RETURN coalesce(last_id, 0);
END
$fn$;

-- Registry checks of a push batch, all before anything is applied: unknown
-- tables or columns, and primary keys that are not exactly the table's.
-- The host has checked the JSON shape (objects, strings, ids) already.
CREATE FUNCTION drizzlesync.validate_mutations(mutations jsonb) RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    tables jsonb;
    bad record;
BEGIN
    -- Per synced table, once: its primary key and its writable columns.
    SELECT jsonb_object_agg(drizzlesync.wire_name(s.schema_name, s.table_name), jsonb_build_object(
               'pk', ARRAY(SELECT c::text FROM unnest(s.pk_columns) AS c ORDER BY c),
               'columns', (SELECT jsonb_object_agg(a.attname, true) FROM pg_attribute AS a
                           WHERE a.attrelid = format('%I.%I', s.schema_name, s.table_name)::regclass
                             AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')))
    INTO tables
    FROM drizzlesync.synced_table AS s;

    -- One pass over the batch: the first mutation with a problem is reported.
    SELECT m.i - 1 AS i, m.value->>'table' AS name, p.code, p.key INTO bad
    FROM jsonb_array_elements(mutations) WITH ORDINALITY AS m(value, i)
    CROSS JOIN LATERAL (SELECT tables->(m.value->>'table') AS shape) AS t
    CROSS JOIN LATERAL (
        SELECT 'unknown_table' AS code, NULL::text AS key WHERE t.shape IS NULL
        UNION ALL
        SELECT 'invalid_pk', NULL
        WHERE to_jsonb(ARRAY(SELECT k FROM jsonb_object_keys(m.value->'pk') AS k ORDER BY k)) <> t.shape->'pk'
        UNION ALL
        SELECT CASE WHEN m.value->'pk' ? v.key THEN 'pk_mismatch' ELSE 'unknown_column' END, v.key
        FROM jsonb_each(coalesce(m.value->'values', '{}')) AS v
        WHERE NOT (t.shape->'columns') ? v.key
           OR (m.value->'pk' ? v.key AND v.value IS DISTINCT FROM m.value->'pk'->v.key)
        LIMIT 1) AS p
    ORDER BY m.i LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    CASE bad.code
    WHEN 'unknown_table' THEN
        PERFORM drizzlesync.protocol_error(400, 'unknown_table',
            format('%s is not a synced table', quote_literal(bad.name)), format('mutations[%s].table', bad.i));
    WHEN 'invalid_pk' THEN
        PERFORM drizzlesync.protocol_error(400, 'invalid_pk',
            'pk must name exactly the primary key columns of the table', format('mutations[%s].pk', bad.i));
    WHEN 'pk_mismatch' THEN
        PERFORM drizzlesync.protocol_error(400, 'pk_mismatch',
            'values repeat a primary key column with another value than pk',
            format('mutations[%s].values.%s', bad.i, bad.key));
    ELSE
        PERFORM drizzlesync.protocol_error(400, 'unknown_column',
            format('%s is not a writable column of the table', quote_literal(bad.key)),
            format('mutations[%s].values.%s', bad.i, bad.key));
    END CASE;
END
$fn$;

-- A scope key the user does not hold: the mutation is forbidden. Raised the
-- same way whether or not the row exists, so nothing about it leaks.
CREATE FUNCTION drizzlesync.require_scope(scope_rule text, scope_key text, scope_keys text[]) RETURNS void
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF scope_rule IS NOT NULL AND NOT coalesce(scope_key = ANY(scope_keys), false) THEN
        RAISE EXCEPTION 'the row is outside your scopes' USING ERRCODE = 'DZ403';
    END IF;
END
$fn$;

-- What applying mutations to one table needs, computed once per push: its
-- registry id, quoted name, scope rule and expression, key condition on $1,
-- and the columns whose pushed values need converting (wire_decoders).
CREATE FUNCTION drizzlesync.write_plans(mutations jsonb) RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT coalesce(jsonb_object_agg(w.wire, jsonb_build_object(
               'id', s.id,
               'target', w.target,
               'rule', s.scope_rule,
               'scope', drizzlesync.scope_expression(s.scope_rule),
               'key', drizzlesync.key_condition(w.target::regclass, s.pk_columns, '$1'),
               'decode', drizzlesync.wire_decoders(w.target::regclass),
               'pk', to_jsonb(s.pk_columns))), '{}')
    FROM drizzlesync.synced_table AS s
    CROSS JOIN LATERAL (SELECT drizzlesync.wire_name(s.schema_name, s.table_name) AS wire,
                               format('%I.%I', s.schema_name, s.table_name) AS target) AS w
    WHERE w.wire IN (SELECT m->>'table' FROM jsonb_array_elements(mutations) AS m)
$fn$;

-- Apply one mutation: lock the current row and check its scope, then write
-- and check the scope of the result (RETURNING). `patch` writes only the
-- columns it carries (per-column last-writer-wins in arrival order) and
-- never resurrects a deleted row, which is how deletes win.
CREATE FUNCTION drizzlesync.apply_mutation(scope_keys text[], mutation jsonb, plan jsonb) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    target text := plan->>'target';
    scope_rule text := plan->>'rule';
    row_values jsonb := drizzlesync.values_from_wire(coalesce(mutation->'values', '{}'), plan->'decode')
                        || (mutation->'pk');
    pk_columns text[] := ARRAY(SELECT jsonb_array_elements_text(plan->'pk'));
    column_names text[];
    updates text[];
    scope_key text;
    existing integer;
    written integer;
    inserted boolean;
BEGIN
    EXECUTE format('SELECT %s FROM %s AS t WHERE %s FOR UPDATE', plan->>'scope', target, plan->>'key')
    INTO scope_key USING mutation->'pk';
    GET DIAGNOSTICS existing = ROW_COUNT;
    IF existing > 0 THEN
        PERFORM drizzlesync.require_scope(scope_rule, scope_key, scope_keys);
    END IF;

    SELECT array_agg(format('%I', k)), array_agg(format('%I', k)) FILTER (WHERE k <> ALL (pk_columns))
    INTO column_names, updates
    FROM jsonb_object_keys(row_values) AS k;

    CASE mutation->>'op'
    WHEN 'delete' THEN
        EXECUTE format('DELETE FROM %s AS t WHERE %s', target, plan->>'key') USING mutation->'pk';
        RETURN;
    WHEN 'patch' THEN
        IF existing = 0 THEN
            RAISE EXCEPTION 'the row does not exist (it may have been deleted)' USING ERRCODE = 'DZ404';
        END IF;
        IF updates IS NULL THEN
            RETURN;
        END IF;
        EXECUTE format('UPDATE %s AS t SET (%s) = (SELECT %s FROM jsonb_populate_record(NULL::%s, $2) AS r) '
                       'WHERE %s RETURNING %s',
                       target, array_to_string(updates, ', '),
                       (SELECT string_agg('r.' || c, ', ') FROM unnest(updates) AS c), target,
                       plan->>'key', plan->>'scope')
        INTO scope_key USING mutation->'pk', row_values;
        GET DIAGNOSTICS written = ROW_COUNT;
    ELSE
        EXECUTE format('INSERT INTO %s AS t (%s) SELECT %s FROM jsonb_populate_record(NULL::%s, $2) AS r '
                       'ON CONFLICT (%s) DO %s RETURNING %s, t.xmax = 0',
                       target, array_to_string(column_names, ', '),
                       (SELECT string_agg('r.' || c, ', ') FROM unnest(column_names) AS c), target,
                       (SELECT string_agg(format('%I', c), ', ') FROM unnest(pk_columns) AS c),
                       CASE WHEN updates IS NULL THEN 'NOTHING'
                            ELSE 'UPDATE SET ' || (SELECT string_agg(format('%s = EXCLUDED.%s', c, c), ', ')
                                                   FROM unnest(updates) AS c) END,
                       plan->>'scope')
        INTO scope_key, inserted USING mutation->'pk', row_values;
        GET DIAGNOSTICS written = ROW_COUNT;
        -- The key appeared since the lock above found nothing: its row's
        -- scope was never checked, so the write is refused.
        IF existing = 0 AND NOT coalesce(inserted, false) THEN
            RAISE EXCEPTION 'the row is outside your scopes' USING ERRCODE = 'DZ403';
        END IF;
    END CASE;
    IF written > 0 THEN
        PERFORM drizzlesync.require_scope(scope_rule, scope_key, scope_keys);
    END IF;
END
$fn$;

-- The scope key that makes a change-log entry relevant to one client only.
-- Scope rules must not produce keys with this prefix.
CREATE FUNCTION drizzlesync.client_key(client_id text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT 'drizzlesync:client:' || client_id
$fn$;

-- Mark the keys of rejected mutations dirty for the client that sent them,
-- so that a client which applied them optimistically gets the server's
-- version of those rows (or a delete) on its next pull, in the same window
-- as the lastMutationId that acknowledges them. A key whose values do not
-- even fit the table's types names no row, and is skipped.
CREATE FUNCTION drizzlesync.redeliver(client_id text, mutations jsonb, plans jsonb) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    mutation jsonb;
BEGIN
    FOR mutation IN SELECT value FROM jsonb_array_elements(mutations) LOOP
        BEGIN
            EXECUTE format('SELECT jsonb_populate_record(NULL::%s, $1)', plans->(mutation->>'table')->>'target')
            USING mutation->'pk';
        EXCEPTION WHEN data_exception THEN
            CONTINUE;
        END;
        INSERT INTO drizzlesync.change_log (table_id, op, pk, scope_before, scope_after, client_id)
        VALUES ((plans->(mutation->>'table')->>'id')::integer, 'U', mutation->'pk',
                drizzlesync.client_key(client_id), drizzlesync.client_key(client_id), client_id);
    END LOOP;
END
$fn$;

-- Apply the mutations of one client transaction atomically. A permanent
-- failure rolls the transaction back and records a rejection for each of its
-- mutations; a temporary one (serialization, deadlock, lock timeout,
-- cancellation, resources) propagates so the host answers 503 and the whole
-- push is retried.
CREATE FUNCTION drizzlesync.apply_transaction(client_id text, scope_keys text[], mutations jsonb, plans jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    mutation jsonb;
    failed bigint;
    failure_code text;
    failure_message text;
BEGIN
    BEGIN
        FOR mutation IN SELECT value FROM jsonb_array_elements(mutations) LOOP
            failed := (mutation->>'id')::bigint;
            PERFORM drizzlesync.apply_mutation(scope_keys, mutation, plans->(mutation->>'table'));
        END LOOP;
        RETURN;
    EXCEPTION
        WHEN transaction_rollback OR lock_not_available OR query_canceled OR insufficient_resources THEN
            RAISE;
        WHEN integrity_constraint_violation OR data_exception OR raise_exception OR generated_always
             OR SQLSTATE 'DZ403' OR SQLSTATE 'DZ404' THEN
            failure_message := SQLERRM;
            failure_code := CASE
                WHEN SQLSTATE = 'DZ403' THEN 'forbidden'
                WHEN SQLSTATE = 'DZ404' THEN 'not_found'
                WHEN SQLSTATE LIKE '23%' THEN 'constraint_violation'
                WHEN SQLSTATE LIKE '22%' THEN 'invalid_value'
                ELSE 'rejected' END;
    END;
    INSERT INTO drizzlesync.rejection (client_id, mutation_id, code, message)
    SELECT apply_transaction.client_id, (m->>'id')::bigint,
           CASE WHEN (m->>'id')::bigint = failed THEN failure_code ELSE 'transaction_rolled_back' END,
           CASE WHEN (m->>'id')::bigint = failed THEN failure_message
                ELSE format('mutation %s of the same transaction failed', failed) END
    FROM jsonb_array_elements(mutations) AS m;
    PERFORM drizzlesync.redeliver(client_id, mutations, plans);
END
$fn$;

-- The fast path of a batch of patches to rows of one table, each named once: one
-- UPDATE (each row patched with its own columns, the others kept through
-- jsonb_populate_record over the current row) of the rows in the user's
-- scopes, which checks the scope of the results (RETURNING), and one
-- capture. Anything short of every mutation applying cleanly (a missing,
-- foreign or twice-named row, a result out of scope, an error) rolls it back
-- and returns false, and the caller applies the batch one transaction at a
-- time, which records the rejections.
CREATE FUNCTION drizzlesync.apply_patches(scope_keys text[], mutations jsonb, plan jsonb) RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    key_in_batch text := replace(plan->>'key', '$1', '(m.drizzlesync_mutation->''pk'')');
    in_scope text := CASE WHEN plan->>'rule' IS NULL THEN 'true' ELSE format('%s = ANY($2)', plan->>'scope') END;
    columns text[] := ARRAY(SELECT DISTINCT format('%I', k)
                            FROM jsonb_array_elements(mutations) AS m, jsonb_object_keys(m->'values') AS k
                            WHERE k <> ALL (ARRAY(SELECT jsonb_array_elements_text(plan->'pk'))));
    updated bigint;
    allowed bigint;
BEGIN
    IF columns = '{}' THEN
        RETURN false;
    END IF;
    BEGIN
        IF plan->'decode' <> '{}' THEN
            mutations := (SELECT jsonb_agg(jsonb_set(m, '{values}',
                                                     drizzlesync.values_from_wire(m->'values', plan->'decode')))
                          FROM jsonb_array_elements(mutations) AS m);
        END IF;
        -- A row two mutations name (say, a key spelled in upper and lower
        -- case) is updated once, so the count tells it apart too.
        EXECUTE format('WITH changed AS ('
                       '  UPDATE %1$s AS t SET (%2$s) = '
                       '    (SELECT %3$s FROM jsonb_populate_record(t, m.drizzlesync_mutation->''values'') AS r) '
                       '  FROM jsonb_array_elements($1) AS m(drizzlesync_mutation) WHERE %4$s AND %5$s '
                       '  RETURNING %5$s AS allowed) '
                       'SELECT count(*), count(*) FILTER (WHERE changed.allowed) FROM changed',
                       plan->>'target', array_to_string(columns, ', '),
                       (SELECT string_agg('r.' || c, ', ') FROM unnest(columns) AS c), key_in_batch, in_scope)
        INTO updated, allowed USING mutations, scope_keys;
        IF updated <> jsonb_array_length(mutations) OR allowed <> updated THEN
            RAISE EXCEPTION 'the batch does not apply as a whole';  -- undone below
        END IF;
        RETURN true;
    EXCEPTION
        WHEN transaction_rollback OR lock_not_available OR query_canceled OR insufficient_resources THEN
            RAISE;
        WHEN OTHERS THEN
            RETURN false;
    END;
END
$fn$;

-- Push: apply the mutations the client has not pushed before, exactly once,
-- in the transaction that advances its last mutation id. Ids must increase
-- within the batch, and the batch must not start after a gap, so a batch
-- delivered before an earlier one is refused (409) rather than skipping it.
-- The caller runs this in a READ COMMITTED transaction and commits it.
CREATE FUNCTION drizzlesync.push(user_id text, scope_keys text[], client_id text, schema_version integer,
                                  mutations jsonb)
RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    last_id bigint;
    first_id bigint := (mutations->0->>'id')::bigint;
    final_id bigint := (mutations->-1->>'id')::bigint;
    mutation record;
    tx_mutations jsonb := '[]';
    tx_key jsonb;
    plans jsonb;
    fresh jsonb;
BEGIN
    PERFORM drizzlesync.check_schema_version(schema_version);
    PERFORM drizzlesync.validate_mutations(mutations);
    last_id := drizzlesync.bind_client(client_id, user_id, true);
    IF first_id > last_id + 1 THEN
        PERFORM drizzlesync.protocol_error(409, 'mutation_gap',
            format('the batch starts at mutation %s but the last one applied is %s', first_id, last_id),
            'mutations[0].id', jsonb_build_object('lastMutationId', last_id));
    END IF;
    PERFORM set_config('drizzlesync.client_id', client_id, true);
    plans := drizzlesync.write_plans(mutations);
    IF first_id > last_id THEN
        fresh := mutations;  -- the common case: nothing of the batch applied before
    ELSE
        SELECT coalesce(jsonb_agg(e.m ORDER BY e.i), '[]') INTO fresh
        FROM jsonb_array_elements(mutations) WITH ORDINALITY AS e(m, i) WHERE (e.m->>'id')::bigint > last_id;
    END IF;
    IF (SELECT bool_and(m->>'op' = 'patch') AND count(DISTINCT m->>'table') = 1
        FROM jsonb_array_elements(fresh) AS m)
       AND drizzlesync.apply_patches(scope_keys, fresh, plans->(fresh->0->>'table')) THEN
        fresh := '[]';
    END IF;
    FOR mutation IN
        SELECT m.value, m.value->'tx' AS tx FROM jsonb_array_elements(fresh) WITH ORDINALITY AS m(value, i)
        ORDER BY m.i
    LOOP
        IF tx_mutations <> '[]' AND mutation.tx IS DISTINCT FROM tx_key THEN
            PERFORM drizzlesync.apply_transaction(client_id, scope_keys, tx_mutations, plans);
            tx_mutations := '[]';
        END IF;
        tx_mutations := tx_mutations || jsonb_build_array(mutation.value);
        tx_key := mutation.tx;
    END LOOP;
    IF tx_mutations <> '[]' THEN
        PERFORM drizzlesync.apply_transaction(client_id, scope_keys, tx_mutations, plans);
    END IF;
    PERFORM set_config('drizzlesync.client_id', '', true);
    IF coalesce(final_id, 0) > last_id THEN
        UPDATE drizzlesync.client AS c SET last_mutation_id = final_id, pushed_at = now()
        WHERE c.client_id = push.client_id;
        last_id := final_id;
    END IF;
    RETURN jsonb_build_object(
        'lastMutationId', last_id,
        'rejected', coalesce((
            SELECT jsonb_agg(jsonb_build_object('id', r.mutation_id, 'code', r.code, 'message', r.message)
                             ORDER BY r.mutation_id)
            FROM drizzlesync.rejection AS r
            WHERE r.client_id = push.client_id AND r.mutation_id BETWEEN first_id AND final_id), '[]'));
END
$fn$;

-- One change of the pull response: the current row when the user may see
-- it, else a delete of the key (gone, or moved out of the user's scopes).
-- It is json, not jsonb: the response is only ever printed, and building
-- text is several times cheaper than building jsonb.
-- It runs once per row, so it must be inlined into the calling query: no
-- SET clause (builtins are qualified instead), and STABLE like the
-- json_build_object it calls (an IMMUTABLE body with a STABLE call is not).
CREATE FUNCTION drizzlesync.change(wire text, row_image json, pk jsonb, visible boolean) RETURNS json
LANGUAGE sql STABLE
AS $fn$
    SELECT CASE WHEN row_image IS NOT NULL AND visible
                THEN pg_catalog.json_build_object('table', wire, 'op', 'upsert', 'row', row_image)
                ELSE pg_catalog.json_build_object('table', wire, 'op', 'delete', 'pk', pk) END
$fn$;

-- The condition "the user may see the row" over a lateral `cur` with its scope.
CREATE FUNCTION drizzlesync.visible_condition(scope_rule text, scope_param text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT CASE WHEN scope_rule IS NULL THEN 'true' ELSE format('cur.scope = ANY(%s)', scope_param) END
$fn$;

-- One page of a snapshot: the current rows under snap_keys (and of unscoped
-- tables when snap_all), table by table in registry order, each in key order
-- so that the next page continues with an index range scan.
CREATE FUNCTION drizzlesync.snapshot_page(st drizzlesync.pull_cursor, scope_keys text[], room integer)
RETURNS drizzlesync.pull_step
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    s drizzlesync.synced_table;
    target text;
    page json;
    pieces json[] := '{}';
    taken integer;
    total integer := 0;
    last_pk jsonb;
BEGIN
    FOR s IN
        SELECT * FROM drizzlesync.synced_table AS t
        WHERE t.id >= st.snap_table AND (t.scope_rule IS NOT NULL OR st.snap_all) ORDER BY t.id
    LOOP
        target := format('%I.%I', s.schema_name, s.table_name);
        EXECUTE format(
            'SELECT coalesce(json_agg(drizzlesync.change($1, cur.row_image, cur.pk, %1$s)), ''[]''), '
            '       count(*), (array_agg(cur.pk ORDER BY cur.sort_key DESC))[1] '
            'FROM (SELECT %8$s AS row_image, jsonb_build_object(%2$s) AS pk, %3$s AS scope, '
            '             ROW(%4$s) AS sort_key '
            '      FROM %5$s AS t WHERE %6$s AND %7$s ORDER BY %4$s LIMIT $4) AS cur',
            drizzlesync.visible_condition(s.scope_rule, '$2'),
            (SELECT string_agg(format('%L, t.%I', c, c), ', ') FROM unnest(s.pk_columns) AS c),
            drizzlesync.scope_expression(s.scope_rule),
            drizzlesync.column_list(s.pk_columns, 't'),
            target,
            CASE WHEN s.scope_rule IS NULL THEN 'true'
                 ELSE format('%s = ANY($3)', drizzlesync.scope_expression(s.scope_rule)) END,
            CASE WHEN s.id = st.snap_table AND st.snap_pk IS NOT NULL
                 THEN drizzlesync.key_condition(target::regclass, s.pk_columns, '$5', '>')
                 ELSE 'true' END,
            drizzlesync.row_image_sql(target::regclass, 't'))
        INTO page, taken, last_pk
        USING drizzlesync.wire_name(s.schema_name, s.table_name), scope_keys, st.snap_keys, room - total,
              st.snap_pk;
        IF taken > 0 THEN
            pieces := pieces || page;
            total := total + taken;
        END IF;
        IF total >= room THEN
            st.snap_table := s.id;
            st.snap_pk := last_pk;
            RETURN ROW(st, drizzlesync.json_concat(pieces), total, false)::drizzlesync.pull_step;
        END IF;
    END LOOP;
    st.snap_keys := NULL;
    st.snap_all := NULL;
    st.snap_table := NULL;
    st.snap_pk := NULL;
    RETURN ROW(st, drizzlesync.json_concat(pieces), total, false)::drizzlesync.pull_step;
END
$fn$;

-- One page of the open window: up to `room` change-log entries in (txid,
-- seq) order, their keys deduplicated per table and joined with the current
-- rows. A truncate of a visible table resets.
--
-- The entries are those committed in the target snapshot and not in the
-- base one, about a row under a relevant key (or of an unscoped table, or a
-- truncate), from the position on: the row comparison is the lower bound of
-- the index scan. The filters defeat the planner's row estimates (it expects
-- a handful where a busy window holds thousands), and it would sort the
-- whole window to take one page; without sorts it walks the (txid, seq)
-- index and stops at the end of the page, and row_number follows that order.
-- JIT is off because the cost that disables sorting would compile every
-- query. The entries are read once; their distinct keys travel to the
-- per-table lookups as arrays.
CREATE FUNCTION drizzlesync.window_page(st drizzlesync.pull_cursor, scope_keys text[], room integer)
RETURNS drizzlesync.pull_step
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_sort = off
SET jit = off
AS $fn$
DECLARE
    relevant text[] := st.scope_keys || st.extra_keys || drizzlesync.client_key(st.client_id);
    unscoped integer[] := ARRAY(SELECT t.id FROM drizzlesync.synced_table AS t WHERE t.scope_rule IS NULL);
    found_entries bigint;
    last_txid xid8;
    last_seq bigint;
    truncated boolean;
    table_ids integer[];
    key_tables integer[];
    keys jsonb[];
    s drizzlesync.synced_table;
    target text;
    page json;
    taken integer;
    total integer := 0;
    pieces json[] := '{}';
BEGIN
    WITH entries AS (
        SELECT c.txid, c.seq, c.table_id, c.op, c.pk, row_number() OVER (ORDER BY c.txid, c.seq) AS n
        FROM drizzlesync.change_log AS c
        WHERE (c.txid, c.seq) > (coalesce(st.pos_txid, pg_snapshot_xmin(st.base)), coalesce(st.pos_seq, 0))
          AND c.txid < pg_snapshot_xmax(st.target)
          AND pg_visible_in_snapshot(c.txid, st.target) AND NOT pg_visible_in_snapshot(c.txid, st.base)
          AND (c.table_id = ANY(unscoped) OR c.op = 'T' OR c.scope_before = ANY(relevant)
               OR c.scope_after = ANY(relevant))
        ORDER BY c.txid, c.seq
        LIMIT room + 1),
    dirty AS (SELECT DISTINCT x.table_id, x.pk FROM entries AS x WHERE x.n <= room AND x.op <> 'T')
    SELECT (SELECT count(*) FROM entries), l.txid, l.seq,
           EXISTS (SELECT FROM entries AS x WHERE x.n <= room AND x.op = 'T'),
           (SELECT array_agg(DISTINCT d.table_id) FROM dirty AS d), d.tables, d.keys
    INTO found_entries, last_txid, last_seq, truncated, table_ids, key_tables, keys
    FROM (SELECT array_agg(d.table_id) AS tables, array_agg(d.pk) AS keys FROM dirty AS d) AS d
    LEFT JOIN entries AS l ON l.n = (SELECT max(x.n) FROM entries AS x WHERE x.n <= room);

    IF truncated THEN
        RETURN ROW(st, '[]'::json, 0, true)::drizzlesync.pull_step;
    END IF;
    FOR s IN SELECT t.* FROM drizzlesync.synced_table AS t WHERE t.id = ANY(table_ids) ORDER BY t.id LOOP
        target := format('%I.%I', s.schema_name, s.table_name);
        -- OFFSET 0 keeps the lookup a per-key index probe: flattened into a
        -- join, the planner may scan and hash the whole table for one page.
        EXECUTE format(
            'SELECT coalesce(json_agg(drizzlesync.change($3, cur.row_image, k.pk, %1$s)), ''[]''), count(*) '
            'FROM unnest($1, $2) AS k(table_id, pk) '
            'LEFT JOIN LATERAL (SELECT %5$s AS row_image, %2$s AS scope FROM %3$s AS t WHERE %4$s OFFSET 0) AS cur '
            'ON true '
            'WHERE k.table_id = $4',
            drizzlesync.visible_condition(s.scope_rule, '$5'),
            drizzlesync.scope_expression(s.scope_rule),
            target,
            drizzlesync.key_condition(target::regclass, s.pk_columns, 'k.pk'),
            drizzlesync.row_image_sql(target::regclass, 't'))
        INTO page, taken
        USING key_tables, keys, drizzlesync.wire_name(s.schema_name, s.table_name), s.id, scope_keys;
        IF taken > 0 THEN
            pieces := pieces || page;
            total := total + taken;
        END IF;
    END LOOP;

    IF found_entries > room THEN
        st.pos_txid := last_txid;
        st.pos_seq := last_seq;
    ELSE
        st.base := st.target;
        st.target := NULL;
        st.pos_txid := NULL;
        st.pos_seq := NULL;
        st.extra_keys := '{}';
    END IF;
    RETURN ROW(st, drizzlesync.json_concat(pieces), total, false)::drizzlesync.pull_step;
END
$fn$;

CREATE FUNCTION drizzlesync.pull_response(cursor_token text, has_more boolean, reset boolean,
                                           last_mutation_id bigint, changes json)
RETURNS json
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT json_build_object('cursor', cursor_token, 'hasMore', has_more, 'reset', reset,
                              'lastMutationId', last_mutation_id, 'changes', changes)
$fn$;

-- Pull: the changes since the cursor that the user may see, at most
-- max_changes of them. The caller runs it in a REPEATABLE READ transaction,
-- so that every statement here, and lastMutationId, read one snapshot.
--
-- The cursor is a snapshot-diff cursor: a window delivers the entries whose
-- transaction is visible in the window's snapshot and was not in the
-- previous one. Unlike a `txid < xmin` bound, a long-running transaction
-- does not hold back everyone else's changes: it is delivered by the first
-- window whose snapshot sees it committed.
CREATE FUNCTION drizzlesync.pull(user_id text, scope_keys text[], client_id text, schema_version integer,
                                  cursor_token text, max_changes integer)
RETURNS json
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    keys text[] := ARRAY(SELECT DISTINCT k FROM unnest(scope_keys) AS k WHERE k IS NOT NULL ORDER BY k);
    last_id bigint;
    st drizzlesync.pull_cursor;
    step drizzlesync.pull_step;
    pieces json[] := '{}';
    total integer := 0;
    opened boolean := false;
    epoch uuid;
    presented uuid;
    uuid_pattern constant text := '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
BEGIN
    IF current_setting('transaction_isolation') = 'read committed' THEN
        RAISE EXCEPTION 'drizzlesync: pull must run in a REPEATABLE READ transaction';
    END IF;
    PERFORM drizzlesync.check_schema_version(schema_version);
    last_id := drizzlesync.bind_client(client_id, user_id, false);
    SELECT i.epoch INTO STRICT epoch FROM drizzlesync.installation AS i;

    IF cursor_token IS NULL THEN
        st := ROW(NULL, client_id, user_id, NULL, NULL, pg_current_snapshot(), keys, '{}', last_id,
                  NULL, NULL, NULL, keys, true, 0, NULL, schema_version);
    ELSE
        IF cursor_token !~ format('^%s\.%s$', uuid_pattern, uuid_pattern) THEN
            PERFORM drizzlesync.protocol_error(400, 'invalid_cursor',
                'cursor must be a value returned by an earlier pull, or null', 'cursor');
        END IF;
        presented := split_part(cursor_token, '.', 2)::uuid;
        SELECT * INTO st FROM drizzlesync.pull_cursor AS p
        WHERE p.id = presented AND p.client_id = pull.client_id AND p.user_id = pull.user_id
          AND split_part(cursor_token, '.', 1)::uuid = epoch
        FOR KEY SHARE;
        -- Reset when the cursor is unknown (another epoch, expired, or from
        -- before a restore), when the transaction counter went backwards
        -- (a logical restore into another cluster), when compaction has
        -- removed entries the cursor still needs (compacted_through is read
        -- in the same snapshot as the change log, so no pull can miss both),
        -- or when the client moved to another schema version: its rows were
        -- served under the old columns, scope rules and synced tables.
        IF NOT FOUND
           OR st.schema_version <> pull.schema_version
           OR st.created_xid >= pg_current_xact_id()
           OR pg_snapshot_xmin(st.base) <= (SELECT c.compacted_through FROM drizzlesync.compaction AS c) THEN
            RETURN drizzlesync.pull_response(NULL, true, true, last_id, '[]');
        END IF;
        -- The client has this cursor, so it no longer needs the ones before it.
        DELETE FROM drizzlesync.pull_cursor AS p
        WHERE p.client_id = pull.client_id AND p.created_xid < st.created_xid;
    END IF;

    IF st.scope_keys IS DISTINCT FROM keys THEN
        -- Scopes gained or lost take effect at once, before any row is
        -- served under the new keys: a snapshot of their rows (upserts for
        -- gained, deletes for lost; one in progress restarts with the union),
        -- the lost keys kept relevant so that rows which moved out of them
        -- arrive as deletes, and an open window dropped so that the next one
        -- (which clears those extra keys) starts after the snapshot.
        st.snap_keys := ARRAY(SELECT unnest(st.snap_keys)
                              UNION (SELECT unnest(st.scope_keys) EXCEPT SELECT unnest(keys))
                              UNION (SELECT unnest(keys) EXCEPT SELECT unnest(st.scope_keys)));
        st.snap_all := coalesce(st.snap_all, false);
        st.snap_table := 0;
        st.snap_pk := NULL;
        st.extra_keys := ARRAY(SELECT unnest(st.extra_keys)
                               UNION (SELECT unnest(st.scope_keys) EXCEPT SELECT unnest(keys)));
        st.scope_keys := keys;
        st.target := NULL;
        st.pos_txid := NULL;
        st.pos_seq := NULL;
    END IF;

    WHILE total < max_changes LOOP
        IF st.snap_keys IS NOT NULL THEN
            step := drizzlesync.snapshot_page(st, keys, max_changes - total);
        ELSIF st.target IS NOT NULL THEN
            step := drizzlesync.window_page(st, keys, max_changes - total);
            IF step.reset THEN
                RETURN drizzlesync.pull_response(NULL, true, true, last_id, '[]');
            END IF;
        ELSIF NOT opened THEN
            st.target := pg_current_snapshot();
            st.last_mutation_id := last_id;
            opened := true;
            CONTINUE;
        ELSE
            EXIT;
        END IF;
        st := step.state;
        IF step.taken > 0 THEN
            pieces := pieces || step.changes;
            total := total + step.taken;
        END IF;
    END LOOP;

    st.id := gen_random_uuid();
    st.created_at := now();
    st.created_xid := pg_current_xact_id();
    INSERT INTO drizzlesync.pull_cursor SELECT (st).*;
    RETURN drizzlesync.pull_response(
        epoch::text || '.' || st.id::text,
        st.snap_keys IS NOT NULL OR st.target IS NOT NULL OR NOT opened,
        false, st.last_mutation_id, drizzlesync.json_concat(pieces));
END
$fn$;

-- Compaction: forget cursors unused for `retention`, then delete the
-- change-log entries that every remaining cursor has already passed, at most
-- batch_size of them per call (call again while it deletes that many). It takes no
-- lock that pulls wait for: a pull deriving from a cursor deleted here fails
-- to lock it (and is retried into a reset), and a pull that would need a
-- deleted entry sees compacted_through and resets.
CREATE FUNCTION drizzlesync.compact(retention interval, batch_size integer DEFAULT 50000,
                                     OUT expired_cursors integer, OUT deleted_changes integer)
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    horizon xid8;
    through xid8;
BEGIN
    DELETE FROM drizzlesync.pull_cursor WHERE created_at < now() - retention;
    GET DIAGNOSTICS expired_cursors = ROW_COUNT;
    -- Below the oldest base xmin of any cursor, and below every transaction
    -- still running (a bootstrap in flight has not stored its cursor yet).
    SELECT least(min(pg_snapshot_xmin(p.base)), pg_snapshot_xmin(pg_current_snapshot())) INTO horizon
    FROM drizzlesync.pull_cursor AS p;
    WITH gone AS (
        DELETE FROM drizzlesync.change_log WHERE seq IN (
            SELECT c.seq FROM drizzlesync.change_log AS c WHERE c.txid < horizon
            ORDER BY c.txid, c.seq LIMIT batch_size)
        RETURNING txid)
    SELECT count(*), max(txid) INTO deleted_changes, through FROM gone;
    IF through IS NOT NULL THEN
        UPDATE drizzlesync.compaction
        SET compacted_through = greatest(compacted_through, through), compacted_at = now();
    END IF;
END
$fn$;

-- The protocol entry points run as their owner; only roles granted EXECUTE
-- (the sync host's) may call them.
REVOKE EXECUTE ON FUNCTION drizzlesync.push(text, text[], text, integer, jsonb) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION drizzlesync.pull(text, text[], text, integer, text, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION drizzlesync.compact(interval, integer) FROM PUBLIC;

