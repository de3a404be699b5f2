//! The pipeline configuration: one TOML file of per-table settings with pipeline defaults,
//! shared by the CLI (`--config`) and the Lambda functions (`HPS_CONFIG`).
//!
//! - [`model`]: the file as written (unknown keys are errors);
//! - [`resolve`]: defaults applied, names and values checked, conflicts between tables
//!   (overlapping locations, one staging table for two tables) refused, giving a
//!   [`PipelineConfig`] of [`TableConfig`]s whose `target` is the sync's
//!   [`hps_sync::TargetOverrides`];
//! - [`source`]: reading it from a path, `s3://bucket/key` or `ssm:/name`.
//!
//! The keys are listed in [`KEYS`], which the README's configuration reference is tested
//! against.

pub mod discover;
pub mod error;
pub mod model;
pub mod resolve;
pub mod source;

pub use error::ConfigError;
pub use resolve::{Location, PipelineConfig, TableConfig, parse, parse_location};
pub use source::{ConfigSource, discover_tables, open_store};

/// One documented key of the file.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The section: `defaults` or `tables.<id>`.
    pub section: &'static str,
    /// The key.
    pub name: &'static str,
    /// Value and default.
    pub value: &'static str,
    /// What it does.
    pub doc: &'static str,
}

const TABLE: &str = "tables.<id>";
const COLUMNS: &str = "tables.<id>.columns";
const DEFAULTS: &str = "defaults";
const DISCOVERY: &str = "discovery";

/// Every key the file accepts (the README's configuration reference lists exactly these).
pub static KEYS: &[Key] = &[
    Key {
        section: DEFAULTS,
        name: "schema",
        value: "name; `hudi`",
        doc: "PostgreSQL schema of every table's staging, landing and tombstone tables",
    },
    Key {
        section: DEFAULTS,
        name: "delete_mode",
        value: "`hard` \\| `soft`; `hard`",
        doc: "what a Hudi delete does to the staging row",
    },
    Key {
        section: DEFAULTS,
        name: "landing_retention",
        value: "`drop` \\| duration; `drop`",
        doc: "keep each load's landing rows this long (`7d`, `12h`, `30m`, `90s`) or drop them when the load commits",
    },
    Key {
        section: DEFAULTS,
        name: "tombstone_retention",
        value: "`forever` \\| duration; `30d`",
        doc: "how long hard-delete tombstones guard against late, older upserts",
    },
    Key {
        section: DEFAULTS,
        name: "on_schema_change",
        value: "`evolve` \\| `freeze` \\| `stop`; `evolve`",
        doc: "when the Hudi schema needs DDL on an existing staging table: `evolve` adds the column or widens the type, `freeze` never alters staging (new columns are not loaded, a type staging cannot hold stops the table), `stop` stops the table before anything of that instant is written (see \"Schema changes\" below)",
    },
    Key {
        section: DEFAULTS,
        name: "on_bad_row",
        value: "`stop` \\| `quarantine`; `stop`",
        doc: "a change row PostgreSQL cannot hold (NUL in text, date or timestamp out of range, decimal wider than its `numeric(p,s)`): `stop` fails the load naming table, instant, file, column and reason; `quarantine` moves the row into `<staging>__quarantine` in the load's transaction and commits the others (see \"Bad rows\")",
    },
    Key {
        section: DISCOVERY,
        name: "prefixes",
        value: "list of `s3://bucket/prefix` \\| path; none",
        doc: "every Hudi table under these (a directory holding `.hoodie/hoodie.properties`, at any depth up to 32, not inside another table or a hidden directory) is synced with the defaults, under an id derived from its path (see \"Discovery\"); a `[tables.<id>]` entry at its base path overrides them. Prefixes must not contain one another nor lie inside a table",
    },
    Key {
        section: TABLE,
        name: "location",
        value: "`s3://bucket/prefix` \\| path; required",
        doc: "the Hudi table's base path (local paths: CLI only); locations must not contain one another",
    },
    Key {
        section: TABLE,
        name: "schema",
        value: "name; `defaults.schema`",
        doc: "PostgreSQL schema of this table",
    },
    Key {
        section: TABLE,
        name: "table",
        value: "name; from `hoodie.table.name`",
        doc: "staging table name (landing and tombstone tables follow it); two tables cannot name the same one",
    },
    Key {
        section: TABLE,
        name: "key_columns",
        value: "list; Hudi record-key fields",
        doc: "primary-key columns of staging",
    },
    Key {
        section: TABLE,
        name: "ordering_columns",
        value: "list; Hudi ordering fields",
        doc: "columns compared after commit time and sequence number by the version guard",
    },
    Key {
        section: TABLE,
        name: "key_includes_partition_path",
        value: "bool; `false`",
        doc: "prefix the key with `_hoodie_partition_path` (record keys unique per partition only)",
    },
    Key {
        section: TABLE,
        name: "delete_mode",
        value: "as in `defaults`",
        doc: "this table's delete mode",
    },
    Key {
        section: TABLE,
        name: "landing_retention",
        value: "as in `defaults`",
        doc: "this table's landing retention",
    },
    Key {
        section: TABLE,
        name: "tombstone_retention",
        value: "as in `defaults`",
        doc: "this table's tombstone retention",
    },
    Key {
        section: TABLE,
        name: "on_schema_change",
        value: "as in `defaults`",
        doc: "this table's schema-change mode",
    },
    Key {
        section: TABLE,
        name: "on_bad_row",
        value: "as in `defaults`",
        doc: "this table's bad-row policy",
    },
    Key {
        section: TABLE,
        name: "after_apply",
        value: "list of SQL statements; none",
        doc: "run in order inside every apply transaction that applies rows, after the upsert and before the fence moves, with `$1` load id, `$2`/`$3` window start/end, `$4` rows, `$5` inserted, `$6` updated, `$7` deleted bound as parameters (see \"after_apply\" below)",
    },
    Key {
        section: TABLE,
        name: "filter",
        value: "`col in ('a', …)` \\| `col = 'a'`; none",
        doc: "only the partitions whose partition column (a `hoodie.table.partition.fields` field) holds one of the values: other partitions' files are pruned from every plan, never read, never applied",
    },
    Key {
        section: TABLE,
        name: "columns",
        value: "table; all columns",
        doc: "the keys below: which columns reach staging, named and typed how (by their Hudi names)",
    },
    Key {
        section: COLUMNS,
        name: "include",
        value: "list; all",
        doc: "only these columns (the meta, key and ordering columns are always kept)",
    },
    Key {
        section: COLUMNS,
        name: "exclude",
        value: "list; none",
        doc: "every column but these; their parquet column chunks are never fetched and they are never COPYed (not a key or ordering column; not with `include`)",
    },
    Key {
        section: COLUMNS,
        name: "rename",
        value: "table `hudi_name = \"staging_name\"`; none",
        doc: "staging column names (key and ordering columns too; `key_columns` and `ordering_columns` still use Hudi names)",
    },
    Key {
        section: COLUMNS,
        name: "types",
        value: "table `hudi_name = \"text\"`; derived",
        doc: "staging type instead of the derived one, from a closed set: `text` (scalars as text, nested values as the JSON `jsonb` would hold); not for key or ordering columns",
    },
];

/// The configuration reference as a Markdown table (the README embeds it).
pub fn reference_table() -> String {
    let mut out = String::from("| section | key | value; default | meaning |\n|---|---|---|---|\n");
    for k in KEYS {
        out.push_str(&format!(
            "| `[{}]` | `{}` | {} | {} |\n",
            k.section, k.name, k.value, k.doc
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys serde accepts in a section, from its "unknown field, expected one of" message.
    fn accepted(text: &str) -> Vec<String> {
        let e = model_error(text);
        let list = e
            .split("expected one of ")
            .nth(1)
            .or_else(|| e.split("expected ").nth(1))
            .unwrap_or_else(|| panic!("no expected list in {e}"));
        let mut keys: Vec<String> = list
            .lines()
            .next()
            .unwrap_or_default()
            .split(['`', ','])
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "or" && !s.starts_with("or "))
            .collect();
        keys.sort();
        keys
    }

    fn model_error(text: &str) -> String {
        match toml::from_str::<model::ConfigFile>(text) {
            Ok(_) => panic!("accepted {text}"),
            Err(e) => e.to_string(),
        }
    }

    fn documented(section: &str) -> Vec<String> {
        let mut v: Vec<String> = KEYS
            .iter()
            .filter(|k| k.section == section)
            .map(|k| k.name.to_string())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn keys_list_exactly_what_the_model_accepts() {
        assert_eq!(accepted("[defaults]\nzzz = 1\n"), documented(DEFAULTS));
        assert_eq!(
            accepted("[tables.t]\nzzz = 1\n"),
            documented(TABLE),
            "KEYS and model::TableEntry differ"
        );
        assert_eq!(
            accepted("zzz = 1\n"),
            vec!["defaults", "discovery", "tables"]
        );
        assert_eq!(accepted("[discovery]\nzzz = 1\n"), documented(DISCOVERY));
        assert_eq!(
            accepted("[tables.t.columns]\nzzz = 1\n"),
            documented(COLUMNS)
        );
    }

    #[test]
    fn every_key_parses_with_its_documented_kind_of_value() {
        let text = r#"
[defaults]
schema = "s"
delete_mode = "soft"
landing_retention = "drop"
tombstone_retention = "forever"
on_schema_change = "stop"
on_bad_row = "stop"
[discovery]
prefixes = ["s3://lake/wh/"]
[tables.t]
location = "s3://lake/t"
schema = "s2"
table = "t"
key_columns = ["id"]
ordering_columns = ["ts"]
key_includes_partition_path = true
delete_mode = "hard"
landing_retention = "1d"
tombstone_retention = "30d"
on_schema_change = "freeze"
on_bad_row = "quarantine"
after_apply = ["select $1"]
[tables.t.columns]
exclude = ["email"]
rename = { amount = "amount_eur" }
types = { note = "text" }
"#;
        let text = text.replace(
            "[tables.t.columns]",
            "filter = \"region = 'eu'\"\n[tables.t.columns]",
        );
        let c = parse("all-keys", &text).unwrap();
        assert_eq!(c.tables.len(), 1);
        let rows = reference_table();
        for k in KEYS {
            assert!(rows.contains(&format!("`{}`", k.name)));
        }
    }
}
