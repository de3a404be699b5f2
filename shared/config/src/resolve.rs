//! From the file as written ([`ConfigFile`]) to checked per-table settings ([`TableConfig`]):
//! defaults applied, every name and value validated, conflicts between tables refused.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use hps_hudi::columns::META_COLUMN_PREFIX;
use hps_postgres::{BadRowPolicy, DeletePolicy, HPS_PREFIX, LandingRetention, OnSchemaChange};
use hps_sync::{ColumnMapping, ColumnSelect, TargetOverrides, TypeOverride};

use crate::error::ConfigError;
use crate::model::{ColumnsEntry, ConfigFile, Defaults, Discovery, TableEntry};

/// Longest table id: it becomes the SQS message group id (at most 128 characters) and starts
/// every deduplication id, so it is kept well below that (the Lambda's rule).
pub const MAX_TABLE_ID_LEN: usize = 64;

/// Longest PostgreSQL identifier (bytes).
const MAX_IDENT: usize = 63;

/// Longest staging name: `<name>__tombstones` must still fit [`MAX_IDENT`].
const MAX_STAGING: usize = MAX_IDENT - "__tombstones".len();

/// Where a table lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `s3://bucket/prefix` (prefix without leading or trailing `/`, may be empty).
    S3 {
        /// Bucket.
        bucket: String,
        /// Base path inside the bucket.
        prefix: String,
    },
    /// A local directory (the CLI).
    Local(PathBuf),
}

impl Location {
    /// The normalized location: `s3://bucket/prefix` or the path as given.
    pub fn uri(&self) -> String {
        match self {
            Location::S3 { bucket, prefix } if prefix.is_empty() => format!("s3://{bucket}"),
            Location::S3 { bucket, prefix } => format!("s3://{bucket}/{prefix}"),
            Location::Local(p) => p.display().to_string(),
        }
    }

    /// Whether one location equals or contains the other (segment-wise).
    fn nests(&self, other: &Location) -> bool {
        match (self, other) {
            (
                Location::S3 {
                    bucket: a,
                    prefix: p,
                },
                Location::S3 {
                    bucket: b,
                    prefix: q,
                },
            ) => a == b && (within(p, q) || within(q, p)),
            (Location::Local(a), Location::Local(b)) => {
                let (a, b) = (lexical_absolute(a), lexical_absolute(b));
                a.starts_with(&b) || b.starts_with(&a)
            }
            _ => false,
        }
    }
}

fn within(outer: &str, inner: &str) -> bool {
    outer.is_empty()
        || inner == outer
        || inner
            .strip_prefix(outer)
            .is_some_and(|r| r.starts_with('/'))
}

/// `p` made absolute without touching the file system, `.` and `..` folded.
pub(crate) fn lexical_absolute(p: &Path) -> PathBuf {
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// One table, resolved: where it is and how it maps to PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableConfig {
    /// The table id (the key under `[tables]`).
    pub id: String,
    /// Its base path.
    pub location: Location,
    /// The PostgreSQL target settings (unset ones are derived from `hoodie.properties`).
    pub target: TargetOverrides,
    /// SQL statements run inside every apply transaction (see `hps_sync::TableSource`).
    pub after_apply: Vec<String>,
    /// Which columns reach staging, renamed and typed how.
    pub columns: ColumnMapping,
    /// The partition filter (pruning), if any.
    pub partition_filter: Option<hps_sync::PartitionFilter>,
    /// Found under a discovery prefix with no `[tables.<id>]` entry of its own (the id is
    /// derived from its path, the settings are the defaults).
    pub discovered: bool,
}

/// A whole configuration, resolved and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineConfig {
    /// Where it was read from (`HPS_CONFIG`'s value, a path, `HPS_TABLES`).
    pub origin: String,
    /// The tables: the file's own, ordered by id, then (after [`PipelineConfig::discover`])
    /// the discovered ones, ordered by location.
    pub tables: Vec<TableConfig>,
    /// The discovery prefixes (`[discovery] prefixes`), normalized.
    pub prefixes: Vec<Location>,
    /// The defaults as target settings: what a discovered table gets.
    pub defaults: TargetOverrides,
}

impl PipelineConfig {
    /// The table with this id.
    pub fn table(&self, id: &str) -> Option<&TableConfig> {
        self.tables.iter().find(|t| t.id == id)
    }

    /// The table at this normalized location.
    pub fn table_at(&self, location: &Location) -> Option<&TableConfig> {
        self.tables.iter().find(|t| &t.location == location)
    }

    /// The prefix `location` is at or below, with the path below it.
    pub fn prefix_of(&self, location: &Location) -> Option<(&Location, String)> {
        self.prefixes
            .iter()
            .find_map(|p| p.relative(location).map(|rel| (p, rel)))
    }

    /// The table discovered at `rel` below `prefix`: the file's entry at that location when
    /// it has one (its settings override the defaults), else a table with the derived id and
    /// the defaults.
    pub fn discovered_table(&self, prefix: &Location, rel: &str) -> TableConfig {
        let location = prefix.join(rel);
        if let Some(t) = self.table_at(&location) {
            return t.clone();
        }
        TableConfig {
            id: crate::discover::derived_id(prefix, rel),
            location,
            target: self.defaults.clone(),
            after_apply: Vec::new(),
            columns: ColumnMapping::default(),
            partition_filter: None,
            discovered: true,
        }
    }
}

/// Parse and validate TOML `text` read from `origin`.
pub fn parse(origin: &str, text: &str) -> Result<PipelineConfig, ConfigError> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Parse {
        origin: origin.to_string(),
        message: e.to_string().trim_end().to_string(),
    })?;
    resolve(origin, &file)
}

/// Validate `file` and apply its defaults to every table.
pub fn resolve(origin: &str, file: &ConfigFile) -> Result<PipelineConfig, ConfigError> {
    let defaults = check_defaults(origin, &file.defaults)?;
    let prefixes = match &file.discovery {
        Some(d) => check_prefixes(origin, d)?,
        None => Vec::new(),
    };
    if file.tables.is_empty() && prefixes.is_empty() {
        return Err(ConfigError::Parse {
            origin: origin.to_string(),
            message:
                "no tables: add at least one [tables.<id>] with a location, or [discovery] prefixes"
                    .into(),
        });
    }
    let mut tables = Vec::with_capacity(file.tables.len());
    for (id, entry) in &file.tables {
        let t = TableCheck { origin, id }.resolve(entry, &defaults)?;
        for other in &tables {
            check_pair(origin, other, &t)?;
        }
        check_against_prefixes(origin, &t, &prefixes)?;
        tables.push(t);
    }
    Ok(PipelineConfig {
        origin: origin.to_string(),
        tables,
        prefixes,
        defaults: TargetOverrides {
            schema: defaults.schema,
            delete_policy: defaults.delete,
            landing_retention: defaults.landing,
            tombstone_retention: defaults.tombstone,
            ..TargetOverrides::default()
        },
    })
}

/// The discovery prefixes: valid locations, none containing another.
fn check_prefixes(origin: &str, d: &Discovery) -> Result<Vec<Location>, ConfigError> {
    let err = |prefix: &str, reason: String| ConfigError::Prefix {
        origin: origin.to_string(),
        prefix: prefix.to_string(),
        reason,
    };
    if d.prefixes.is_empty() {
        return Err(err(
            "",
            "empty: name at least one prefix, or remove [discovery]".into(),
        ));
    }
    let mut out: Vec<Location> = Vec::with_capacity(d.prefixes.len());
    for raw in &d.prefixes {
        let loc = parse_location(raw).map_err(|r| err(raw, r))?;
        if let Location::Local(p) = &loc
            && lexical_absolute(p).parent().is_none()
        {
            return Err(err(
                raw,
                "the file system root is not a prefix to discover tables in".into(),
            ));
        }
        if let Some(other) = out.iter().find(|o| o.nests(&loc)) {
            return Err(err(
                raw,
                format!(
                    "overlaps the prefix {} (one contains the other; list the outer one only)",
                    other.uri()
                ),
            ));
        }
        out.push(loc);
    }
    Ok(out)
}

/// A table may lie under a prefix (its entry then overrides the defaults there) but a prefix
/// must not lie inside a table (tables nested in a table are never discovered), and under
/// prefixes the id shape of discovered tables is reserved.
fn check_against_prefixes(
    origin: &str,
    t: &TableConfig,
    prefixes: &[Location],
) -> Result<(), ConfigError> {
    let err = |key: &str, reason: String| ConfigError::Table {
        origin: origin.to_string(),
        table: t.id.clone(),
        key: key.to_string(),
        reason,
    };
    if let Some(p) = prefixes.iter().find(|p| t.location.relative(p).is_some()) {
        return Err(err(
            "location",
            format!(
                "the discovery prefix {} is inside this table's location {} (tables inside a table are never discovered)",
                p.uri(),
                t.location.uri()
            ),
        ));
    }
    if !prefixes.is_empty() && crate::discover::looks_derived(&t.id) {
        return Err(err(
            "(id)",
            format!(
                "ids ending in `-` and {} hex digits are reserved for discovered tables",
                crate::discover::HASH_LEN
            ),
        ));
    }
    Ok(())
}

/// Two tables must not share a location (or nest) nor an explicitly named staging table.
fn check_pair(origin: &str, a: &TableConfig, b: &TableConfig) -> Result<(), ConfigError> {
    let conflict = |reason: String| ConfigError::Conflict {
        origin: origin.to_string(),
        first: a.id.clone(),
        second: b.id.clone(),
        reason,
    };
    if a.location.nests(&b.location) {
        return Err(conflict(format!(
            "their locations {} and {} overlap (one contains the other)",
            a.location.uri(),
            b.location.uri()
        )));
    }
    if let (Some(x), Some(y)) = (&a.target.staging, &b.target.staging)
        && x == y
        && a.target.schema == b.target.schema
    {
        return Err(conflict(format!(
            "both write to staging table {}.{x}",
            a.target
                .schema
                .as_deref()
                .unwrap_or(hps_postgres::DEFAULT_SCHEMA)
        )));
    }
    Ok(())
}

/// The defaults, checked.
#[derive(Debug, Clone, Default)]
struct Resolved {
    schema: Option<String>,
    delete: Option<DeletePolicy>,
    landing: Option<LandingRetention>,
    tombstone: Option<Option<Duration>>,
    schema_change: Option<OnSchemaChange>,
    bad_row: Option<BadRowPolicy>,
}

fn check_defaults(origin: &str, d: &Defaults) -> Result<Resolved, ConfigError> {
    let err = |key: &str, reason: String| ConfigError::Default {
        origin: origin.to_string(),
        key: key.to_string(),
        reason,
    };
    Ok(Resolved {
        schema: d
            .schema
            .as_deref()
            .map(|s| identifier(s, MAX_IDENT).map(|()| s.to_string()))
            .transpose()
            .map_err(|r| err("schema", r))?,
        delete: d
            .delete_mode
            .as_deref()
            .map(delete_mode)
            .transpose()
            .map_err(|r| err("delete_mode", r))?,
        landing: d
            .landing_retention
            .as_deref()
            .map(landing_retention)
            .transpose()
            .map_err(|r| err("landing_retention", r))?,
        tombstone: d
            .tombstone_retention
            .as_deref()
            .map(tombstone_retention)
            .transpose()
            .map_err(|r| err("tombstone_retention", r))?,
        schema_change: d
            .on_schema_change
            .as_deref()
            .map(OnSchemaChange::parse)
            .transpose()
            .map_err(|r| err("on_schema_change", r))?,
        bad_row: d
            .on_bad_row
            .as_deref()
            .map(bad_row)
            .transpose()
            .map_err(|r| err("on_bad_row", r))?,
    })
}

/// Checks of one table entry, with what its errors must name.
struct TableCheck<'a> {
    origin: &'a str,
    id: &'a str,
}

impl TableCheck<'_> {
    fn err(&self, key: &str, reason: String) -> ConfigError {
        ConfigError::Table {
            origin: self.origin.to_string(),
            table: self.id.to_string(),
            key: key.to_string(),
            reason,
        }
    }

    fn resolve(&self, e: &TableEntry, d: &Resolved) -> Result<TableConfig, ConfigError> {
        table_id(self.id).map_err(|r| self.err("(id)", r))?;
        let location = e
            .location
            .as_deref()
            .ok_or_else(|| self.err("location", "missing: the table's base path".into()))
            .and_then(|l| parse_location(l).map_err(|r| self.err("location", r)))?;
        let schema = match &e.schema {
            Some(s) => Some(self.ident("schema", s, MAX_IDENT)?),
            None => d.schema.clone(),
        };
        let staging = e
            .table
            .as_deref()
            .map(|s| self.ident("table", s, MAX_STAGING))
            .transpose()?;
        let key_columns = e
            .key_columns
            .as_deref()
            .map(|c| self.columns("key_columns", c, false))
            .transpose()?;
        let ordering_columns = e
            .ordering_columns
            .as_deref()
            .map(|c| self.columns("ordering_columns", c, true))
            .transpose()?;
        let delete_policy = match &e.delete_mode {
            Some(m) => Some(delete_mode(m).map_err(|r| self.err("delete_mode", r))?),
            None => d.delete,
        };
        let landing_retention = match &e.landing_retention {
            Some(r) => Some(landing_retention(r).map_err(|r| self.err("landing_retention", r))?),
            None => d.landing,
        };
        let tombstone_retention = match &e.tombstone_retention {
            Some(r) => {
                Some(tombstone_retention(r).map_err(|r| self.err("tombstone_retention", r))?)
            }
            None => d.tombstone,
        };
        let on_schema_change = match &e.on_schema_change {
            Some(m) => Some(OnSchemaChange::parse(m).map_err(|r| self.err("on_schema_change", r))?),
            None => d.schema_change,
        };
        let on_bad_row = match &e.on_bad_row {
            Some(p) => Some(bad_row(p).map_err(|r| self.err("on_bad_row", r))?),
            None => d.bad_row,
        };
        let after_apply = self.statements(e.after_apply.as_deref().unwrap_or_default())?;
        let columns = match &e.columns {
            Some(c) => self.column_mapping(c, key_columns.iter().chain(&ordering_columns))?,
            None => ColumnMapping::default(),
        };
        let partition_filter = e
            .filter
            .as_deref()
            .map(hps_sync::PartitionFilter::parse)
            .transpose()
            .map_err(|r| self.err("filter", r))?;
        Ok(TableConfig {
            id: self.id.to_string(),
            location,
            after_apply,
            columns,
            partition_filter,
            target: TargetOverrides {
                schema,
                staging,
                key_columns,
                key_includes_partition_path: e.key_includes_partition_path.unwrap_or(false),
                ordering_columns,
                delete_policy,
                landing_retention,
                tombstone_retention,
                on_schema_change,
                on_bad_row,
            },
            discovered: false,
        })
    }

    /// The column mapping; `needed` are the configured key and ordering columns (they cannot
    /// be excluded).
    fn column_mapping<'n>(
        &self,
        c: &ColumnsEntry,
        needed: impl Iterator<Item = &'n Vec<String>>,
    ) -> Result<ColumnMapping, ConfigError> {
        let needed: Vec<&String> = needed.flatten().collect();
        let select = match (&c.include, &c.exclude) {
            (Some(_), Some(_)) => {
                return Err(self.err("columns", "set include or exclude, not both".into()));
            }
            (Some(i), None) => ColumnSelect::Include(self.data_columns("columns.include", i)?),
            (None, Some(x)) => {
                let x = self.data_columns("columns.exclude", x)?;
                if let Some(k) = x.iter().find(|c| needed.contains(c)) {
                    return Err(self.err(
                        "columns.exclude",
                        format!("{k:?} is a key or ordering column of this table"),
                    ));
                }
                ColumnSelect::Exclude(x)
            }
            (None, None) => ColumnSelect::All,
        };
        let mut rename = std::collections::BTreeMap::new();
        for (from, to) in c.rename.iter().flatten() {
            self.data_columns("columns.rename", std::slice::from_ref(from))?;
            self.data_columns("columns.rename", std::slice::from_ref(to))?;
            let clash = rename.values().any(|t| t == to)
                || (c.rename.iter().flatten().any(|(f, _)| f == to) && to != from);
            if clash {
                return Err(self.err(
                    "columns.rename",
                    format!("two columns would be named {to:?} in staging"),
                ));
            }
            rename.insert(from.clone(), to.clone());
        }
        let mut types = std::collections::BTreeMap::new();
        for (col, ty) in c.types.iter().flatten() {
            self.data_columns("columns.types", std::slice::from_ref(col))?;
            let t = TypeOverride::parse(ty).map_err(|r| self.err("columns.types", r))?;
            if needed.contains(&col) {
                return Err(self.err(
                    "columns.types",
                    format!("{col:?} is a key or ordering column of this table; its type stays"),
                ));
            }
            types.insert(col.clone(), t);
        }
        Ok(ColumnMapping {
            select,
            rename,
            types,
        })
    }

    /// Names of data columns: plain SQL names, no meta (`_hoodie_…`) or sync (`_hps_…`)
    /// columns, none twice.
    fn data_columns(&self, key: &str, cols: &[String]) -> Result<Vec<String>, ConfigError> {
        let cols = self.columns(key, cols, true)?;
        if let Some(c) = cols
            .iter()
            .find(|c| c.starts_with(META_COLUMN_PREFIX) || c.starts_with(HPS_PREFIX))
        {
            return Err(self.err(
                key,
                format!(
                    "{c:?} is a column the sync manages; it cannot be selected, renamed or retyped"
                ),
            ));
        }
        Ok(cols)
    }

    /// One statement per entry (a prepared statement holds exactly one), none blank.
    fn statements(&self, sql: &[String]) -> Result<Vec<String>, ConfigError> {
        for (i, s) in sql.iter().enumerate() {
            if s.trim().trim_end_matches(';').trim().is_empty() {
                return Err(self.err("after_apply", format!("statement {} is empty", i + 1)));
            }
        }
        Ok(sql
            .iter()
            .map(|s| s.trim().trim_end_matches(';').trim_end().to_string())
            .collect())
    }

    fn ident(&self, key: &str, name: &str, max: usize) -> Result<String, ConfigError> {
        identifier(name, max).map_err(|r| self.err(key, r))?;
        Ok(name.to_string())
    }

    fn columns(
        &self,
        key: &str,
        cols: &[String],
        may_be_empty: bool,
    ) -> Result<Vec<String>, ConfigError> {
        if cols.is_empty() && !may_be_empty {
            return Err(self.err(key, "empty: name at least one column".into()));
        }
        for (i, c) in cols.iter().enumerate() {
            identifier(c, MAX_IDENT).map_err(|r| self.err(key, r))?;
            if cols[i + 1..].contains(c) {
                return Err(self.err(key, format!("column {c:?} listed twice")));
            }
        }
        Ok(cols.to_vec())
    }
}

/// A table id: 1-64 characters of `A-Z a-z 0-9 _ . -`.
pub fn table_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_TABLE_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "table id {id:?} must be 1-{MAX_TABLE_ID_LEN} characters of A-Z a-z 0-9 _ . -"
        ))
    }
}

/// A configured SQL name: a letter or `_`, then letters, digits or `_`, at most `max` bytes.
/// Quoting would make anything safe, but a name that needs quoting in a hand-written file is
/// far more often a mistake (or an injection attempt) than a wish.
fn identifier(name: &str, max: usize) -> Result<(), String> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(format!(
            "{name:?} is not a plain SQL name (a letter or _, then letters, digits or _)"
        ));
    }
    if name.len() > max {
        return Err(format!("{name:?} is longer than {max} bytes"));
    }
    Ok(())
}

/// `s3://bucket/prefix` (`s3a://` too) or a local path.
pub fn parse_location(raw: &str) -> Result<Location, String> {
    let raw = raw.trim();
    if let Some(rest) = raw
        .strip_prefix("s3://")
        .or_else(|| raw.strip_prefix("s3a://"))
    {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
        if !bucket_ok {
            return Err(format!("{bucket:?} is not a valid S3 bucket name"));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|s| s == "." || s == ".." || (s.is_empty() && !prefix.is_empty()))
        {
            return Err(format!(
                "{raw:?}: empty, `.` or `..` path segments are not allowed"
            ));
        }
        if prefix.split('/').any(|s| s == ".hoodie") {
            return Err(format!(
                "{raw:?}: a table base path cannot be inside a `.hoodie` directory"
            ));
        }
        return Ok(Location::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
        });
    }
    let path = raw.strip_prefix("file://").unwrap_or(raw);
    if let Some((scheme, _)) = path.split_once("://") {
        return Err(format!(
            "unsupported scheme {scheme}:// (use s3://bucket/prefix or a local path)"
        ));
    }
    if path.is_empty() {
        return Err("empty".into());
    }
    Ok(Location::Local(PathBuf::from(path)))
}

fn delete_mode(s: &str) -> Result<DeletePolicy, String> {
    match s {
        "hard" => Ok(DeletePolicy::Hard),
        "soft" => Ok(DeletePolicy::Soft),
        other => Err(format!("{other:?}: expected \"hard\" or \"soft\"")),
    }
}

fn bad_row(s: &str) -> Result<BadRowPolicy, String> {
    match s {
        "stop" => Ok(BadRowPolicy::Stop),
        "quarantine" => Ok(BadRowPolicy::Quarantine),
        other => Err(format!("{other:?}: expected \"stop\" or \"quarantine\"")),
    }
}

fn landing_retention(s: &str) -> Result<LandingRetention, String> {
    match s {
        "drop" => Ok(LandingRetention::DropAfterApply),
        other => duration(other)
            .map(LandingRetention::Keep)
            .map_err(|r| format!("{r} (or \"drop\")")),
    }
}

fn tombstone_retention(s: &str) -> Result<Option<Duration>, String> {
    match s {
        "forever" => Ok(None),
        other => duration(other)
            .map(Some)
            .map_err(|r| format!("{r} (or \"forever\")")),
    }
}

/// `<n>s`, `<n>m`, `<n>h` or `<n>d`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration like 90s, 30m, 12h or 7d");
    let unit = s.chars().last().ok_or_else(bad)?;
    let secs_per = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(bad()),
    };
    let n: u64 = s[..s.len() - 1].parse().map_err(|_| bad())?;
    n.checked_mul(secs_per)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[defaults]
schema = "lake"
delete_mode = "soft"
tombstone_retention = "7d"
on_schema_change = "freeze"
on_bad_row = "quarantine"

[tables.orders]
location = "s3://lake/wh/orders/"
table = "orders_eu"
key_columns = ["order_id"]
ordering_columns = ["updated_at"]
key_includes_partition_path = true
delete_mode = "hard"
landing_retention = "12h"
on_schema_change = "stop"
on_bad_row = "stop"
after_apply = ["insert into audit values ($1, $4);"]

[tables.trips]
location = "s3a://lake/wh/trips"
schema = "mobility"
tombstone_retention = "forever"
filter = "region in ('eu-west', 'eu-north')"
"#;

    #[test]
    fn defaults_apply_and_tables_override_them() {
        let c = parse("test.toml", GOOD).unwrap();
        assert_eq!(c.tables.len(), 2);
        let o = c.table("orders").unwrap();
        assert_eq!(o.location.uri(), "s3://lake/wh/orders");
        let t = &o.target;
        assert_eq!(t.schema.as_deref(), Some("lake"));
        assert_eq!(t.staging.as_deref(), Some("orders_eu"));
        assert_eq!(t.key_columns, Some(vec!["order_id".to_string()]));
        assert_eq!(t.ordering_columns, Some(vec!["updated_at".to_string()]));
        assert!(t.key_includes_partition_path);
        assert_eq!(t.delete_policy, Some(DeletePolicy::Hard));
        assert_eq!(t.on_bad_row, Some(BadRowPolicy::Stop));
        assert_eq!(
            t.landing_retention,
            Some(LandingRetention::Keep(Duration::from_secs(12 * 3600)))
        );
        assert_eq!(
            t.tombstone_retention,
            Some(Some(Duration::from_secs(7 * 86_400)))
        );
        assert_eq!(
            o.after_apply,
            vec!["insert into audit values ($1, $4)".to_string()]
        );
        let tr = &c.table("trips").unwrap().target;
        assert_eq!(tr.schema.as_deref(), Some("mobility"));
        assert_eq!(tr.staging, None);
        assert_eq!(
            c.table("trips")
                .unwrap()
                .partition_filter
                .as_ref()
                .map(|f| f.values.clone()),
            Some(vec!["eu-west".to_string(), "eu-north".to_string()])
        );
        assert_eq!(tr.delete_policy, Some(DeletePolicy::Soft));
        assert_eq!(tr.on_bad_row, Some(BadRowPolicy::Quarantine));
        assert_eq!(tr.tombstone_retention, Some(None));
        assert_eq!(tr.on_schema_change, Some(OnSchemaChange::Freeze));
        assert_eq!(t.on_schema_change, Some(OnSchemaChange::Stop));
        assert_eq!(
            c.table_at(&parse_location("s3://lake/wh/trips").unwrap())
                .map(|t| t.id.as_str()),
            Some("trips")
        );
    }

    /// The message a hostile or mistaken file produces: it must name what is wrong.
    fn rejected(text: &str) -> String {
        match parse("bad.toml", text) {
            Ok(c) => panic!("accepted: {text}\n{c:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        let m = rejected("[tables.a]\nlocation = \"s3://lake/a\"\nkey_colums = [\"id\"]\n");
        assert!(m.contains("key_colums") && m.contains("bad.toml"), "{m}");
        let m = rejected("[defaults]\nshcema = \"x\"\n[tables.a]\nlocation = \"s3://lake/a\"\n");
        assert!(m.contains("shcema"), "{m}");
        let m = rejected("pipeline = \"x\"\n[tables.a]\nlocation = \"s3://lake/a\"\n");
        assert!(m.contains("pipeline"), "{m}");
    }

    #[test]
    fn sql_in_identifiers_is_rejected_naming_table_and_key() {
        for (key, value) in [
            ("table", "\"x; drop table y\""),
            ("schema", "\"public\\\"; --\""),
            ("key_columns", "[\"id\", \"a b\"]"),
            ("ordering_columns", "[\"ts)\"]"),
            ("table", "\"1abc\""),
        ] {
            let m = rejected(&format!(
                "[tables.orders]\nlocation = \"s3://lake/o\"\n{key} = {value}\n"
            ));
            assert!(
                m.contains("table \"orders\"") && m.contains(&format!("key `{key}`")),
                "{key}: {m}"
            );
        }
        let m = rejected("[defaults]\nschema = \"a-b\"\n[tables.o]\nlocation = \"s3://lake/o\"\n");
        assert!(m.contains("defaults.schema"), "{m}");
        // a staging name too long for its `__tombstones` companion
        let m = rejected(&format!(
            "[tables.o]\nlocation = \"s3://lake/o\"\ntable = \"{}\"\n",
            "t".repeat(52)
        ));
        assert!(m.contains("key `table`"), "{m}");
    }

    #[test]
    fn conflicting_tables_are_rejected() {
        let m = rejected(
            "[tables.a]\nlocation = \"s3://lake/wh\"\n[tables.b]\nlocation = \"s3://lake/wh/b\"\n",
        );
        assert!(
            m.contains("\"a\"") && m.contains("\"b\"") && m.contains("overlap"),
            "{m}"
        );
        let m = rejected(
            "[tables.a]\nlocation = \"s3://lake\"\n[tables.b]\nlocation = \"s3://lake/x\"\n",
        );
        assert!(m.contains("overlap"), "{m}");
        let m = rejected(
            "[tables.a]\nlocation = \"/data/wh\"\n[tables.b]\nlocation = \"/data/x/../wh/b\"\n",
        );
        assert!(m.contains("overlap"), "{m}");
        let m = rejected(
            "[tables.a]\nlocation = \"s3://lake/a\"\ntable = \"t\"\n\
             [tables.b]\nlocation = \"s3://lake/b\"\ntable = \"t\"\n",
        );
        assert!(m.contains("hudi.t"), "{m}");
        // same name in different schemas, and sibling prefixes, are fine
        parse(
            "x",
            "[tables.a]\nlocation = \"s3://lake/wh/orders\"\ntable = \"t\"\n\
             [tables.b]\nlocation = \"s3://lake/wh/orders_v2\"\ntable = \"t\"\nschema = \"other\"\n",
        )
        .unwrap();
    }

    #[test]
    fn discovery_prefixes() {
        let c = parse(
            "d.toml",
            "[defaults]\nschema = \"lake\"\ndelete_mode = \"soft\"\n\
             [discovery]\nprefixes = [\"s3://lake/wh/\", \"s3://lake/other\", \"s3://lake2\"]\n\
             [tables.orders]\nlocation = \"s3://lake/wh/db/orders\"\ntable = \"o\"\n",
        )
        .unwrap();
        assert_eq!(
            c.prefixes.iter().map(Location::uri).collect::<Vec<_>>(),
            ["s3://lake/wh", "s3://lake/other", "s3://lake2"]
        );
        let (p, rel) = c
            .prefix_of(&parse_location("s3://lake/wh/db/trips").unwrap())
            .unwrap();
        assert_eq!(
            (p.uri().as_str(), rel.as_str()),
            ("s3://lake/wh", "db/trips")
        );
        assert!(
            c.prefix_of(&parse_location("s3://lake/wh2/x").unwrap())
                .is_none()
        );
        // a discovered table gets the defaults and a derived id
        let t = c.discovered_table(p, &rel);
        assert!(t.discovered && t.id.starts_with("db.trips-"), "{t:?}");
        assert_eq!(t.target.schema.as_deref(), Some("lake"));
        assert_eq!(t.target.delete_policy, Some(DeletePolicy::Soft));
        assert_eq!(t.target.staging, None);
        // the file's entry at a discovered base path overrides the defaults
        let o = c.discovered_table(p, "db/orders");
        assert!(!o.discovered);
        assert_eq!(
            (o.id.as_str(), o.target.staging.as_deref()),
            ("orders", Some("o"))
        );
        // prefixes only: valid
        parse("d.toml", "[discovery]\nprefixes = [\"/data/lake\"]\n").unwrap();
    }

    #[test]
    fn bad_discovery_prefixes_are_rejected() {
        for (text, needle) in [
            ("[discovery]\nprefixes = []\n", "empty"),
            ("[discovery]\nprefixes = [\"gs://x/y\"]\n", "gs://"),
            (
                "[discovery]\nprefixes = [\"s3://lake/wh/.hoodie\"]\n",
                ".hoodie",
            ),
            ("[discovery]\nprefixes = [\"/\"]\n", "root"),
            (
                "[discovery]\nprefixes = [\"s3://lake/wh\", \"s3://lake/wh/db\"]\n",
                "overlaps the prefix s3://lake/wh",
            ),
            (
                "[discovery]\nprefixes = [\"s3://lake/wh/db\", \"s3://lake/wh/\"]\n",
                "overlaps",
            ),
            (
                "[discovery]\nprefixes = [\"s3://lake/wh\", \"s3://lake/wh\"]\n",
                "overlaps",
            ),
            (
                "[discovery]\nprefixes = [\"s3://lake\", \"s3://lake/x\"]\n",
                "overlaps",
            ),
            ("[discovery]\nprefix = [\"s3://lake\"]\n", "prefix"),
        ] {
            let m = rejected(text);
            assert!(m.contains(needle), "{text}: {m}");
            assert!(
                m.contains("discovery") || m.contains("prefix"),
                "{text}: {m}"
            );
        }
        let m = rejected("[discovery]\nprefixes = [\"s3://lake/wh\", \"s3://lake/wh/db\"]\n");
        assert!(m.contains("key `discovery.prefixes`"), "{m}");
        // a prefix inside (or equal to) a table's location
        for loc in ["s3://lake/wh/t", "s3://lake/wh/t/sub"] {
            let m = rejected(&format!(
                "[discovery]\nprefixes = [\"{loc}\"]\n[tables.t]\nlocation = \"s3://lake/wh/t\"\n"
            ));
            assert!(
                m.contains("table \"t\"") && m.contains("inside this table"),
                "{m}"
            );
        }
        // the derived-id shape is reserved once there are prefixes, free without
        let reserved = "[tables.orders-0123456789]\nlocation = \"s3://lake/o\"\n";
        let m = rejected(&format!(
            "[discovery]\nprefixes = [\"s3://lake/wh\"]\n{reserved}"
        ));
        assert!(m.contains("reserved"), "{m}");
        parse("x", reserved).unwrap();
        let m = rejected("[defaults]\nschema = \"x\"\n");
        assert!(m.contains("[discovery]"), "{m}");
    }

    #[test]
    fn column_mappings() {
        let c = parse(
            "c.toml",
            "[tables.t]\nlocation = \"s3://lake/t\"\nkey_columns = [\"id\"]\n\
             [tables.t.columns]\nexclude = [\"email\"]\nrename = { amount = \"amount_eur\" }\n\
             types = { payload = \"text\" }\n",
        )
        .unwrap();
        let m = &c.table("t").unwrap().columns;
        assert_eq!(m.select, ColumnSelect::Exclude(vec!["email".into()]));
        assert_eq!(
            m.rename.get("amount").map(String::as_str),
            Some("amount_eur")
        );
        assert_eq!(m.types.get("payload"), Some(&TypeOverride::Text));
        for (cols, needle) in [
            ("include = [\"a\"]\nexclude = [\"b\"]", "key `columns`"),
            ("exclude = [\"id\"]", "key `columns.exclude`"),
            (
                "exclude = [\"_hoodie_record_key\"]",
                "key `columns.exclude`",
            ),
            ("include = [\"a; drop\"]", "key `columns.include`"),
            ("rename = { a = \"x\", b = \"x\" }", "key `columns.rename`"),
            ("rename = { a = \"b\", b = \"c\" }", "key `columns.rename`"),
            ("rename = { a = \"1x\" }", "key `columns.rename`"),
            ("types = { a = \"jsonb\" }", "key `columns.types`"),
            ("types = { id = \"text\" }", "key `columns.types`"),
        ] {
            let m = rejected(&format!(
                "[tables.t]\nlocation = \"s3://lake/t\"\nkey_columns = [\"id\"]\n[tables.t.columns]\n{cols}\n"
            ));
            assert!(m.contains(needle), "{cols}: {m}");
        }
        let m = rejected(
            "[tables.t]\nlocation = \"s3://lake/t\"\n[tables.t.columns]\nexclde = [\"a\"]\n",
        );
        assert!(m.contains("exclde"), "{m}");
    }

    #[test]
    fn bad_values_are_rejected() {
        for (snippet, key) in [
            ("delete_mode = \"archive\"", "delete_mode"),
            ("on_schema_change = \"ignore\"", "on_schema_change"),
            ("on_bad_row = \"skip\"", "on_bad_row"),
            ("landing_retention = \"7 days\"", "landing_retention"),
            ("tombstone_retention = \"-1d\"", "tombstone_retention"),
            ("key_columns = []", "key_columns"),
            ("key_columns = [\"id\", \"id\"]", "key_columns"),
            ("filter = \"region like 'e%'\"", "filter"),
            ("filter = \"region in (eu)\"", "filter"),
            ("after_apply = [\"select 1\", \" ; \"]", "after_apply"),
        ] {
            let m = rejected(&format!(
                "[tables.t]\nlocation = \"s3://lake/t\"\n{snippet}\n"
            ));
            assert!(m.contains(&format!("key `{key}`")), "{snippet}: {m}");
        }
        for (text, needle) in [
            ("[tables.t]\nschema = \"x\"\n", "key `location`"),
            ("[tables.t]\nlocation = \"gs://b/t\"\n", "key `location`"),
            ("[tables.t]\nlocation = \"s3://Lake/t\"\n", "key `location`"),
            (
                "[tables.t]\nlocation = \"s3://lake/t/.hoodie\"\n",
                "key `location`",
            ),
            (
                "[tables.\"a b\"]\nlocation = \"s3://lake/t\"\n",
                "key `(id)`",
            ),
            (
                "[tables.t]\nlocation = \"s3://lake/t\"\nkey_includes_partition_path = \"yes\"\n",
                "key_includes_partition_path",
            ),
            ("[defaults]\nschema = \"x\"\n", "no tables"),
            (
                "[tables.t]\nlocation = \"s3://lake/t\"\nafter_apply = \"select 1\"\n",
                "after_apply",
            ),
        ] {
            let m = rejected(text);
            assert!(m.contains(needle), "{text}: {m}");
        }
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(duration("d").is_err() && duration("5w").is_err() && duration("").is_err());
    }
}
