//! The SQL a pg session runs once to create its catalog ([`install_script`]): temporary
//! macros for the Postgres functions DuckDB lacks, temporary views `unify_pg_*` over
//! `duckdb_tables()`, `duckdb_columns()`… with Postgres OIDs, and last the macros that
//! look names up in those views. Each concern is a function or a table here; the
//! installer concatenates them in the order DuckDB needs (it binds a view when it is
//! created, so the macros a view uses come first).

use crate::warehouse::staging::STAGING_PREFIX;

/// The SQL that creates a session's catalog views and macros (one batch, idempotent).
pub fn install_script() -> String {
    let mut s = String::new();
    for def in type_macros()
        .iter()
        .map(String::as_str)
        .chain(STUB_MACROS.iter().copied())
    {
        s.push_str(&format!("CREATE OR REPLACE TEMP MACRO {def};\n"));
    }
    let views = relation_views()
        .into_iter()
        .chain(session_views())
        .chain(EMPTY_VIEWS.iter().map(|(name, cols)| (*name, empty(cols))))
        .chain(
            PLACEHOLDER_VIEWS
                .iter()
                .map(|name| (*name, empty(PLACEHOLDER_COLUMNS))),
        );
    for (name, body) in views {
        s.push_str(&format!(
            "CREATE OR REPLACE TEMP VIEW unify_{name} AS {body};\n"
        ));
    }
    s.push_str(LOOKUP_MACROS);
    s
}

/// The body of a view over an always-empty relation with these columns.
fn empty(cols: &str) -> String {
    format!("SELECT {cols} WHERE false")
}

// ----------------------------------------------------------------------------------
// Types
// ----------------------------------------------------------------------------------

/// The Postgres OID of a scalar DuckDB type name `t` (the body of
/// `unify_pg_scalar_oid`).
const SCALAR_OID: &str = "CASE WHEN t = 'BOOLEAN' THEN 16 \
        WHEN t IN ('TINYINT','SMALLINT','UTINYINT') THEN 21 \
        WHEN t IN ('INTEGER','USMALLINT') THEN 23 \
        WHEN t IN ('BIGINT','UINTEGER') THEN 20 \
        WHEN t IN ('UBIGINT','HUGEINT','UHUGEINT','VARINT') OR t LIKE 'DECIMAL%' THEN 1700 \
        WHEN t = 'FLOAT' THEN 700 WHEN t = 'DOUBLE' THEN 701 \
        WHEN t = 'JSON' OR t LIKE 'STRUCT%' THEN 114 \
        WHEN t = 'DATE' THEN 1082 WHEN t = 'TIME' THEN 1083 \
        WHEN t = 'TIMESTAMP WITH TIME ZONE' THEN 1184 \
        WHEN t IN ('TIMESTAMP','TIMESTAMP_S','TIMESTAMP_MS','TIMESTAMP_NS') THEN 1114 \
        WHEN t = 'BLOB' THEN 17 WHEN t = 'UUID' THEN 2950 \
        WHEN t LIKE '%]' THEN 114 \
        ELSE 1043 END";

/// The Postgres array OID of a DuckDB list type name `t` (`INTEGER[]`).
const ARRAY_OID: &str = "CASE unify_pg_scalar_oid(left(t, length(t) - 2)) WHEN 16 THEN 1000 WHEN 21 THEN 1005 WHEN 23 THEN 1007 \
        WHEN 20 THEN 1016 WHEN 1700 THEN 1231 WHEN 700 THEN 1021 WHEN 701 THEN 1022 \
        WHEN 1082 THEN 1182 WHEN 1083 THEN 1183 WHEN 1114 THEN 1115 WHEN 1184 THEN 1185 \
        WHEN 17 THEN 1001 WHEN 2950 THEN 2951 WHEN 1043 THEN 1015 ELSE 114 END";

/// The scalar types of `pg_type`: (oid, name, length, category).
const TYPES: &[(u32, &str, i16, &str)] = &[
    (16, "bool", 1, "B"),
    (17, "bytea", -1, "U"),
    (18, "char", 1, "S"),
    (19, "name", 64, "S"),
    (20, "int8", 8, "N"),
    (21, "int2", 2, "N"),
    (23, "int4", 4, "N"),
    (25, "text", -1, "S"),
    (26, "oid", 4, "N"),
    (114, "json", -1, "U"),
    (700, "float4", 4, "N"),
    (701, "float8", 8, "N"),
    (705, "unknown", -2, "X"),
    (1042, "bpchar", -1, "S"),
    (1043, "varchar", -1, "S"),
    (1082, "date", 4, "D"),
    (1083, "time", 8, "D"),
    (1114, "timestamp", 8, "D"),
    (1184, "timestamptz", 8, "D"),
    (1186, "interval", 16, "T"),
    (1700, "numeric", -1, "N"),
    (2950, "uuid", 16, "U"),
    (3802, "jsonb", -1, "U"),
];

/// The array types of `pg_type`: (oid, name, element oid).
const ARRAYS: &[(u32, &str, u32)] = &[
    (1000, "_bool", 16),
    (1001, "_bytea", 17),
    (1005, "_int2", 21),
    (1007, "_int4", 23),
    (1009, "_text", 25),
    (1015, "_varchar", 1043),
    (1016, "_int8", 20),
    (1021, "_float4", 700),
    (1022, "_float8", 701),
    (1182, "_date", 1082),
    (1183, "_time", 1083),
    (1115, "_timestamp", 1114),
    (1185, "_timestamptz", 1184),
    (1231, "_numeric", 1700),
    (2951, "_uuid", 2950),
    (199, "_json", 114),
];

/// The `VALUES` rows of `pg_type`: (oid, typname, typlen, typtype, typcategory,
/// typelem, typarray, typinput, typoutput).
fn type_rows() -> String {
    let array_of = |oid: u32| ARRAYS.iter().find(|a| a.2 == oid).map_or(0, |a| a.0);
    TYPES
        .iter()
        .map(|(oid, name, len, cat)| {
            format!(
                "({oid}, '{name}', {len}, 'b', '{cat}', 0, {}, '{name}in', '{name}out')",
                array_of(*oid)
            )
        })
        .chain(ARRAYS.iter().map(|(oid, name, elem)| {
            format!("({oid}, '{name}', -1, 'b', 'A', {elem}, 0, 'array_in', 'array_out')")
        }))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `WHEN oid THEN 'name'` cases of `format_type`, for every type of `pg_type`.
fn format_cases() -> String {
    TYPES
        .iter()
        .map(|(oid, name, _, _)| (*oid, pretty_type(name)))
        .chain(ARRAYS.iter().map(|(oid, _, elem)| {
            let base = TYPES.iter().find(|t| t.0 == *elem).map_or("text", |t| t.1);
            (*oid, format!("{}[]", pretty_type(base)))
        }))
        .map(|(oid, name)| format!(" WHEN {oid} THEN '{name}'"))
        .collect()
}

/// A Postgres type name as `format_type` writes it.
fn pretty_type(name: &str) -> String {
    match name {
        "bool" => "boolean",
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "varchar" => "character varying",
        "bpchar" => "character",
        "char" => "\"char\"",
        "time" => "time without time zone",
        "timestamp" => "timestamp without time zone",
        "timestamptz" => "timestamp with time zone",
        other => other,
    }
    .to_string()
}

/// The macros that map DuckDB type names to Postgres OIDs and OIDs to type names.
fn type_macros() -> [String; 3] {
    [
        format!("unify_pg_scalar_oid(t) AS {SCALAR_OID}"),
        format!(
            "unify_pg_oid(t) AS CASE WHEN t LIKE '%[]' THEN {ARRAY_OID} ELSE unify_pg_scalar_oid(t) END"
        ),
        format!(
            "unify_format_type(oid, typmod) AS CASE WHEN oid = 1700 AND typmod IS NOT NULL AND typmod > 4 THEN printf('numeric(%d,%d)', (typmod - 4) >> 16, (typmod - 4) & 65535) ELSE CASE oid{} ELSE '???' END END",
            format_cases()
        ),
    ]
}

// ----------------------------------------------------------------------------------
// Relations: schemas, tables, views, columns, types
// ----------------------------------------------------------------------------------

/// The views over what the warehouse holds (its staging tables left out).
fn relation_views() -> Vec<(&'static str, String)> {
    vec![
        (
            "pg_namespace",
            "SELECT oid::BIGINT AS oid, schema_name AS nspname, 10::BIGINT AS nspowner, NULL::VARCHAR AS nspacl \
             FROM duckdb_schemas() WHERE (database_name = current_database() OR (database_name = 'system' AND schema_name IN ('pg_catalog', 'information_schema')))"
                .into(),
        ),
        (
            "pg_class",
            format!(
                "{} FROM duckdb_tables() WHERE database_name = current_database() AND NOT starts_with(table_name, '{STAGING_PREFIX}') \
                 UNION ALL {} FROM duckdb_views() WHERE database_name = current_database() AND NOT internal",
                class_select("table_oid", "table_name", "schema_oid", "r", "column_count", "estimated_size"),
                class_select("view_oid", "view_name", "schema_oid", "v", "column_count", "0"),
            ),
        ),
        ("pg_type", pg_type()),
        ("pg_attribute", pg_attribute()),
        (
            "pg_am",
            "SELECT * FROM (VALUES (2::BIGINT, 'heap', 'heap_tableam_handler', 't'), (403::BIGINT, 'btree', 'bthandler', 'i')) v(oid, amname, amhandler, amtype)".into(),
        ),
        (
            "pg_tablespace",
            "SELECT * FROM (VALUES (1663::BIGINT, 'pg_default', 10::BIGINT)) v(oid, spcname, spcowner)"
                .into(),
        ),
        ("pg_tables", format!("SELECT schema_name AS schemaname, table_name AS tablename, 'unify' AS tableowner, NULL::VARCHAR AS tablespace, false AS hasindexes, false AS hasrules, false AS hastriggers, false AS rowsecurity FROM duckdb_tables() WHERE database_name = current_database() AND NOT starts_with(table_name, '{STAGING_PREFIX}')")),
        ("pg_views", "SELECT schema_name AS schemaname, view_name AS viewname, 'unify' AS viewowner, sql AS definition FROM duckdb_views() WHERE database_name = current_database() AND NOT internal".into()),
        (
            "pg_language",
            "SELECT * FROM (VALUES (13::BIGINT, 'sql')) v(oid, lanname)".into(),
        ),
    ]
}

/// The select list of `pg_class` for one kind of relation: its columns from a
/// `duckdb_tables()` or `duckdb_views()` row.
fn class_select(oid: &str, name: &str, ns: &str, kind: &str, natts: &str, tuples: &str) -> String {
    format!(
        "SELECT {oid}::BIGINT AS oid, {name} AS relname, {ns}::BIGINT AS relnamespace, 0::BIGINT AS reltype, 0::BIGINT AS reloftype, \
         10::BIGINT AS relowner, 2::BIGINT AS relam, 0::BIGINT AS relfilenode, 0::BIGINT AS reltablespace, 0 AS relpages, \
         {tuples}::FLOAT AS reltuples, 0 AS relallvisible, 0::BIGINT AS reltoastrelid, false AS relhasindex, false AS relisshared, \
         'p' AS relpersistence, '{kind}' AS relkind, {natts}::SMALLINT AS relnatts, 0::SMALLINT AS relchecks, false AS relhasrules, \
         false AS relhastriggers, false AS relhassubclass, false AS relrowsecurity, false AS relforcerowsecurity, true AS relispopulated, \
         'd' AS relreplident, false AS relispartition, 0::BIGINT AS relrewrite, 0 AS relfrozenxid, 0 AS relminmxid, \
         NULL::VARCHAR[] AS relacl, NULL::VARCHAR[] AS reloptions, NULL::VARCHAR AS relpartbound, false AS relhasoids"
    )
}

/// `pg_type`: the types of [`TYPES`] and [`ARRAYS`], in `pg_catalog`.
fn pg_type() -> String {
    format!(
        "SELECT v.oid::BIGINT AS oid, v.typname, (SELECT oid FROM duckdb_schemas() WHERE database_name = 'system' AND schema_name = 'pg_catalog')::BIGINT AS typnamespace, \
         10::BIGINT AS typowner, v.typlen::SMALLINT AS typlen, v.typlen > 0 AND v.typlen <= 8 AS typbyval, v.typtype, v.typcategory, \
         false AS typispreferred, true AS typisdefined, ',' AS typdelim, 0::BIGINT AS typrelid, 0::BIGINT AS typsubscript, \
         v.typelem::BIGINT AS typelem, v.typarray::BIGINT AS typarray, v.typinput, v.typoutput, v.typinput AS typreceive, \
         v.typoutput AS typsend, '-' AS typmodin, '-' AS typmodout, '-' AS typanalyze, 'i' AS typalign, 'p' AS typstorage, \
         false AS typnotnull, 0::BIGINT AS typbasetype, -1 AS typtypmod, 0 AS typndims, 0::BIGINT AS typcollation, \
         NULL::VARCHAR AS typdefaultbin, NULL::VARCHAR AS typdefault, NULL::VARCHAR[] AS typacl \
         FROM (VALUES {}) v(oid, typname, typlen, typtype, typcategory, typelem, typarray, typinput, typoutput)",
        type_rows()
    )
}

/// `pg_attribute`: the columns of the warehouse's tables and views (it reads
/// `unify_pg_type`, so it is created after it).
fn pg_attribute() -> String {
    format!(
        "SELECT c.table_oid::BIGINT AS attrelid, c.column_name AS attname, unify_pg_oid(c.data_type)::BIGINT AS atttypid, \
         -1 AS attstattarget, (SELECT typlen FROM unify_pg_type WHERE oid = unify_pg_oid(c.data_type)) AS attlen, \
         c.column_index::SMALLINT AS attnum, 0 AS attndims, -1 AS attcacheoff, \
         CASE WHEN c.data_type LIKE 'DECIMAL(%' THEN ((c.numeric_precision << 16) | c.numeric_scale) + 4 ELSE -1 END AS atttypmod, \
         false AS attbyval, 'p' AS attstorage, 'i' AS attalign, NOT c.is_nullable AS attnotnull, \
         c.column_default IS NOT NULL AS atthasdef, false AS atthasmissing, '' AS attidentity, '' AS attgenerated, \
         false AS attisdropped, true AS attislocal, 0 AS attinhcount, 0::BIGINT AS attcollation, \
         NULL::VARCHAR[] AS attacl, NULL::VARCHAR[] AS attoptions, NULL::VARCHAR[] AS attfdwoptions, NULL AS attmissingval \
         FROM duckdb_columns() c WHERE c.database_name = current_database() AND NOT starts_with(c.table_name, '{STAGING_PREFIX}')"
    )
}

// ----------------------------------------------------------------------------------
// The session: its one user, database, settings and activity
// ----------------------------------------------------------------------------------

/// The views describing the session: user `unify`, the database, settings, activity.
fn session_views() -> Vec<(&'static str, String)> {
    vec![
        ("pg_roles", "SELECT 10::BIGINT AS oid, 'unify' AS rolname, true AS rolsuper, true AS rolinherit, true AS rolcreaterole, true AS rolcreatedb, true AS rolcanlogin, false AS rolreplication, true AS rolbypassrls, -1 AS rolconnlimit, '********' AS rolpassword, NULL::TIMESTAMP AS rolvaliduntil, NULL::VARCHAR[] AS rolconfig".into()),
        ("pg_user", "SELECT 'unify' AS usename, 10::BIGINT AS usesysid, true AS usecreatedb, true AS usesuper, false AS userepl, true AS usebypassrls, '********' AS passwd, NULL::TIMESTAMP AS valuntil, NULL::VARCHAR[] AS useconfig".into()),
        ("pg_database", "SELECT 1::BIGINT AS oid, current_database() AS datname, 10::BIGINT AS datdba, 6 AS encoding, 'c' AS datlocprovider, false AS datistemplate, true AS datallowconn, -1 AS datconnlimit, 0::BIGINT AS dattablespace, 'C' AS datcollate, 'C' AS datctype, NULL::VARCHAR AS daticulocale, NULL::VARCHAR[] AS datacl".into()),
        ("pg_settings", "SELECT name, value AS setting, NULL::VARCHAR AS unit, 'Ungrouped' AS category, description AS short_desc, NULL::VARCHAR AS extra_desc, 'user' AS context, input_type AS vartype, 'default' AS source FROM duckdb_settings()".into()),
        ("pg_stat_activity", "SELECT 1::BIGINT AS datid, current_database() AS datname, 0 AS pid, 'unify' AS usename, ''::VARCHAR AS application_name, NULL::VARCHAR AS client_addr, 'active' AS state, ''::VARCHAR AS query".into()),
    ]
}

// ----------------------------------------------------------------------------------
// Always-empty relations
// ----------------------------------------------------------------------------------

/// Relations that are always empty here (no indexes, constraints, functions,
/// triggers, publications…): (name, typed columns of the empty select).
const EMPTY_VIEWS: &[(&str, &str)] = &[
    (
        "pg_attrdef",
        "0::BIGINT AS oid, 0::BIGINT AS adrelid, 0::SMALLINT AS adnum, NULL::VARCHAR AS adbin",
    ),
    (
        "pg_collation",
        "0::BIGINT AS oid, ''::VARCHAR AS collname, 0::BIGINT AS collnamespace, 0::BIGINT AS collowner, ''::VARCHAR AS collprovider, true AS collisdeterministic, 0 AS collencoding, ''::VARCHAR AS collcollate, ''::VARCHAR AS collctype",
    ),
    (
        "pg_description",
        "0::BIGINT AS objoid, 0::BIGINT AS classoid, 0 AS objsubid, ''::VARCHAR AS description",
    ),
    (
        "pg_shdescription",
        "0::BIGINT AS objoid, 0::BIGINT AS classoid, ''::VARCHAR AS description",
    ),
    (
        "pg_index",
        "0::BIGINT AS indexrelid, 0::BIGINT AS indrelid, 0::SMALLINT AS indnatts, 0::SMALLINT AS indnkeyatts, false AS indisunique, false AS indnullsnotdistinct, false AS indisprimary, false AS indisexclusion, false AS indimmediate, false AS indisclustered, false AS indisvalid, false AS indcheckxmin, false AS indisready, false AS indislive, false AS indisreplident, []::SMALLINT[] AS indkey, []::BIGINT[] AS indcollation, []::BIGINT[] AS indclass, []::SMALLINT[] AS indoption, NULL::VARCHAR AS indexprs, NULL::VARCHAR AS indpred",
    ),
    (
        "pg_constraint",
        "0::BIGINT AS oid, ''::VARCHAR AS conname, 0::BIGINT AS connamespace, ''::VARCHAR AS contype, false AS condeferrable, false AS condeferred, true AS convalidated, 0::BIGINT AS conrelid, 0::BIGINT AS contypid, 0::BIGINT AS conindid, 0::BIGINT AS conparentid, 0::BIGINT AS confrelid, ''::VARCHAR AS confupdtype, ''::VARCHAR AS confdeltype, ''::VARCHAR AS confmatchtype, true AS conislocal, 0 AS coninhcount, false AS connoinherit, []::SMALLINT[] AS conkey, []::SMALLINT[] AS confkey, NULL::VARCHAR AS conbin",
    ),
    (
        "pg_inherits",
        "0::BIGINT AS inhrelid, 0::BIGINT AS inhparent, 0 AS inhseqno, false AS inhdetachpending",
    ),
    (
        "pg_auth_members",
        "0::BIGINT AS roleid, 0::BIGINT AS member, 0::BIGINT AS grantor, false AS admin_option",
    ),
    (
        "pg_matviews",
        "''::VARCHAR AS schemaname, ''::VARCHAR AS matviewname, ''::VARCHAR AS matviewowner, NULL::VARCHAR AS tablespace, false AS hasindexes, false AS ispopulated, ''::VARCHAR AS definition",
    ),
    (
        "pg_indexes",
        "''::VARCHAR AS schemaname, ''::VARCHAR AS tablename, ''::VARCHAR AS indexname, NULL::VARCHAR AS tablespace, ''::VARCHAR AS indexdef",
    ),
    (
        "pg_proc",
        "0::BIGINT AS oid, ''::VARCHAR AS proname, 0::BIGINT AS pronamespace, 0::BIGINT AS proowner, 0::BIGINT AS prolang, 0::FLOAT AS procost, 0::FLOAT AS prorows, 0::BIGINT AS provariadic, ''::VARCHAR AS prokind, false AS prosecdef, false AS proleakproof, false AS proisstrict, false AS proretset, ''::VARCHAR AS provolatile, 0::SMALLINT AS pronargs, 0::BIGINT AS prorettype, ''::VARCHAR AS proargtypes, NULL::VARCHAR[] AS proargnames, ''::VARCHAR AS prosrc",
    ),
    (
        "pg_enum",
        "0::BIGINT AS oid, 0::BIGINT AS enumtypid, 0::FLOAT AS enumsortorder, ''::VARCHAR AS enumlabel",
    ),
    (
        "pg_range",
        "0::BIGINT AS rngtypid, 0::BIGINT AS rngsubtype, 0::BIGINT AS rngmultitypid",
    ),
    (
        "pg_extension",
        "0::BIGINT AS oid, ''::VARCHAR AS extname, 0::BIGINT AS extowner, 0::BIGINT AS extnamespace, false AS extrelocatable, ''::VARCHAR AS extversion",
    ),
    (
        "pg_trigger",
        "0::BIGINT AS oid, 0::BIGINT AS tgrelid, 0::BIGINT AS tgparentid, ''::VARCHAR AS tgname, 0::BIGINT AS tgfoid, 0 AS tgtype, ''::VARCHAR AS tgenabled, false AS tgisinternal, 0::BIGINT AS tgconstrrelid, 0::BIGINT AS tgconstrindid, 0::BIGINT AS tgconstraint, false AS tgdeferrable, false AS tginitdeferred, 0 AS tgnargs",
    ),
    (
        "pg_sequence",
        "0::BIGINT AS seqrelid, 0::BIGINT AS seqtypid, 0::BIGINT AS seqstart, 0::BIGINT AS seqincrement, 0::BIGINT AS seqmax, 0::BIGINT AS seqmin, 0::BIGINT AS seqcache, false AS seqcycle",
    ),
    (
        "pg_policy",
        "0::BIGINT AS oid, ''::VARCHAR AS polname, 0::BIGINT AS polrelid, ''::VARCHAR AS polcmd, true AS polpermissive, ''::VARCHAR AS polroles, NULL::VARCHAR AS polqual, NULL::VARCHAR AS polwithcheck",
    ),
    (
        "pg_rewrite",
        "0::BIGINT AS oid, ''::VARCHAR AS rulename, 0::BIGINT AS ev_class, ''::VARCHAR AS ev_type, ''::VARCHAR AS ev_enabled, false AS is_instead",
    ),
    (
        "pg_statistic_ext",
        "0::BIGINT AS oid, 0::BIGINT AS stxrelid, ''::VARCHAR AS stxname, 0::BIGINT AS stxnamespace, 0::BIGINT AS stxowner, 0 AS stxstattarget, []::SMALLINT[] AS stxkeys, []::VARCHAR[] AS stxkind",
    ),
    (
        "pg_publication",
        "0::BIGINT AS oid, ''::VARCHAR AS pubname, 0::BIGINT AS pubowner, false AS puballtables, false AS pubinsert, false AS pubupdate, false AS pubdelete, false AS pubtruncate, false AS pubviaroot",
    ),
    (
        "pg_publication_rel",
        "0::BIGINT AS oid, 0::BIGINT AS prpubid, 0::BIGINT AS prrelid, NULL::VARCHAR AS prqual, NULL::SMALLINT[] AS prattrs",
    ),
    (
        "pg_publication_namespace",
        "0::BIGINT AS oid, 0::BIGINT AS pnpubid, 0::BIGINT AS pnnspid",
    ),
    (
        "pg_partitioned_table",
        "0::BIGINT AS partrelid, ''::VARCHAR AS partstrat, 0::SMALLINT AS partnatts, 0::BIGINT AS partdefid",
    ),
    (
        "pg_foreign_table",
        "0::BIGINT AS ftrelid, 0::BIGINT AS ftserver, NULL::VARCHAR[] AS ftoptions",
    ),
    (
        "pg_foreign_server",
        "0::BIGINT AS oid, ''::VARCHAR AS srvname, 0::BIGINT AS srvowner, 0::BIGINT AS srvfdw",
    ),
    (
        "pg_foreign_data_wrapper",
        "0::BIGINT AS oid, ''::VARCHAR AS fdwname, 0::BIGINT AS fdwowner",
    ),
    (
        "pg_event_trigger",
        "0::BIGINT AS oid, ''::VARCHAR AS evtname, ''::VARCHAR AS evtevent, 0::BIGINT AS evtowner, 0::BIGINT AS evtfoid, ''::VARCHAR AS evtenabled",
    ),
    (
        "pg_depend",
        "0::BIGINT AS classid, 0::BIGINT AS objid, 0 AS objsubid, 0::BIGINT AS refclassid, 0::BIGINT AS refobjid, 0 AS refobjsubid, ''::VARCHAR AS deptype",
    ),
    (
        "pg_locks",
        "''::VARCHAR AS locktype, 0::BIGINT AS database, 0::BIGINT AS relation, 0 AS pid, ''::VARCHAR AS mode, false AS granted",
    ),
];

/// Catalog relations clients may name that have only an `oid` and a `name` here.
const PLACEHOLDER_VIEWS: &[&str] = &[
    "pg_operator",
    "pg_opclass",
    "pg_aggregate",
    "pg_cast",
    "pg_conversion",
    "pg_ts_config",
    "pg_ts_dict",
    "pg_ts_parser",
    "pg_ts_template",
];

/// The columns of each of [`PLACEHOLDER_VIEWS`].
const PLACEHOLDER_COLUMNS: &str = "0::BIGINT AS oid, ''::VARCHAR AS name";

// ----------------------------------------------------------------------------------
// Functions
// ----------------------------------------------------------------------------------

/// Postgres functions answered with a constant or a simple expression (created before
/// the views).
const STUB_MACROS: &[&str] = &[
    "unify_pg_get_userbyid(oid) AS 'unify'",
    "unify_pg_get_expr(a, b) AS NULL::VARCHAR, (a, b, c) AS NULL::VARCHAR",
    "unify_obj_description(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR",
    "unify_col_description(a, b) AS NULL::VARCHAR",
    "unify_shobj_description(a, b) AS NULL::VARCHAR",
    "unify_pg_get_indexdef(a) AS NULL::VARCHAR, (a, b, c) AS NULL::VARCHAR",
    "unify_pg_get_constraintdef(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR",
    "unify_pg_get_statisticsobjdef_columns(a) AS NULL::VARCHAR",
    "unify_pg_relation_is_publishable(a) AS false",
    "unify_pg_encoding_to_char(a) AS 'UTF8'",
    "unify_array_upper(a, d) AS CASE WHEN a IS NULL OR len(a) = 0 THEN NULL ELSE len(a) END",
    "unify_array_lower(a, d) AS CASE WHEN a IS NULL OR len(a) = 0 THEN NULL ELSE 1 END",
    "unify_pg_get_function_identity_arguments(a) AS ''",
    "unify_pg_get_function_arguments(a) AS ''",
    "unify_pg_get_function_result(a) AS NULL::VARCHAR",
    "unify_quote_ident(a) AS CASE WHEN regexp_matches(a, '^[a-z_][a-z0-9_]*$') THEN a ELSE '\"' || replace(a, '\"', '\"\"') || '\"' END",
    "unify_pg_is_in_recovery() AS false",
    "unify_has_table_privilege(a, b) AS true, (a, b, c) AS true",
    "unify_has_database_privilege(a, b) AS true, (a, b, c) AS true",
    "unify_has_column_privilege(a, b, c) AS true, (a, b, c, d) AS true",
    "unify_pg_total_relation_size(a) AS 0::BIGINT",
    "unify_pg_relation_size(a) AS 0::BIGINT, (a, b) AS 0::BIGINT",
    "unify_pg_table_size(a) AS 0::BIGINT",
    "unify_pg_indexes_size(a) AS 0::BIGINT",
    "unify_txid_current() AS 1::BIGINT",
    "unify_pg_tablespace_location(a) AS ''",
    "unify_pg_get_partkeydef(a) AS NULL::VARCHAR",
    "unify_pg_get_serial_sequence(a, b) AS NULL::VARCHAR",
    "unify_pg_my_temp_schema() AS 0::BIGINT",
    "unify_pg_is_other_temp_schema(a) AS false",
    "unify_pg_get_viewdef(a) AS (SELECT sql FROM duckdb_views() WHERE view_oid = a), (a, b) AS (SELECT sql FROM duckdb_views() WHERE view_oid = a)",
    "unify_pg_get_triggerdef(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR",
    "unify_pg_get_ruledef(a) AS NULL::VARCHAR, (a, b) AS NULL::VARCHAR",
    "unify_pg_postmaster_start_time() AS now()",
    "unify_inet_server_addr() AS NULL::VARCHAR",
    "unify_inet_server_port() AS NULL::INTEGER",
    "unify_pg_type_is_visible(a) AS true",
    "unify_pg_function_is_visible(a) AS true",
    "unify_pg_table_is_visible(a) AS true",
    "unify_pg_collation_is_visible(a) AS true",
    "unify_pg_opclass_is_visible(a) AS true",
];

/// Name lookups over the views (`'t'::regclass`), created after them.
const LOOKUP_MACROS: &str = "CREATE OR REPLACE TEMP MACRO unify_to_regclass(a) AS (SELECT min(oid) FROM unify_pg_class WHERE relname = a OR (SELECT nspname FROM unify_pg_namespace n WHERE n.oid = relnamespace) || '.' || relname = a);\n\
    CREATE OR REPLACE TEMP MACRO unify_to_regtype(a) AS (SELECT min(oid) FROM unify_pg_type WHERE typname = a OR 'pg_catalog.' || typname = a);\n\
    CREATE OR REPLACE TEMP MACRO unify_to_regnamespace(a) AS (SELECT min(oid) FROM unify_pg_namespace WHERE nspname = a);\n";
