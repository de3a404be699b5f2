//! Table layout: which columns the landing, staging and tombstone tables have, and the DDL
//! (create, add column, safe widening) that brings existing tables to the incoming schema.
//! Planning is pure: every incompatibility is found before any statement runs.

use std::collections::HashMap;

use arrow_schema::{DataType, Schema};

use crate::catalog::{Catalog, ExistingTable};
use crate::error::PgError;
use crate::ident::Ident;
use crate::spec::{DeletePolicy, Names, TargetTable};
use crate::types::{Compat, PgType, compat, describe_incoming};

/// `_hoodie_commit_time`: requested time of the instant that wrote the change.
pub const COL_COMMIT_TIME: &str = "_hoodie_commit_time";
/// `_hoodie_commit_seqno`: `<instant>_<taskPartition>_<recordIndex>`.
pub const COL_COMMIT_SEQNO: &str = "_hoodie_commit_seqno";
/// `_hoodie_record_key`.
pub const COL_RECORD_KEY: &str = "_hoodie_record_key";
/// `_hoodie_partition_path`.
pub const COL_PARTITION_PATH: &str = "_hoodie_partition_path";
/// `_hoodie_file_name`.
pub const COL_FILE_NAME: &str = "_hoodie_file_name";
/// The change operation column of the input (`upsert` / `delete`).
pub const COL_OP: &str = "_op";

/// Prefix reserved for this crate's own columns.
pub const HPS_PREFIX: &str = "_hps_";
/// Landing: partition key (load sequence from the registry).
pub const HPS_LOAD_SEQ: &str = "_hps_load_seq";
/// Landing, staging, tombstones: the caller's load id.
pub const HPS_LOAD_ID: &str = "_hps_load_id";
/// Landing: 0-based row number within the load (last one wins among equal versions).
pub const HPS_ROW: &str = "_hps_row";
/// Landing: `upsert` / `delete`.
pub const HPS_OP: &str = "_hps_op";
/// Landing, staging, tombstones: order-preserving form of `_hoodie_commit_seqno`.
pub const HPS_SEQNO_KEY: &str = "_hps_seqno_key";
/// Landing: when the row landed.
pub const HPS_LANDED_AT: &str = "_hps_landed_at";
/// Staging: when the row was last written.
pub const HPS_APPLIED_AT: &str = "_hps_applied_at";
/// Staging (soft delete): tombstone flag.
pub const HPS_DELETED: &str = "_hps_deleted";
/// Staging (soft delete), tombstones: when the delete was applied.
pub const HPS_DELETED_AT: &str = "_hps_deleted_at";

const REQUIRED_META: [&str; 4] = [
    COL_COMMIT_TIME,
    COL_COMMIT_SEQNO,
    COL_RECORD_KEY,
    COL_PARTITION_PATH,
];

/// A change column of the incoming schema.
#[derive(Clone, Debug)]
pub(crate) struct IncomingColumn {
    /// Index in the batch.
    pub index: usize,
    pub arrow_name: String,
    pub ident: Ident,
    pub data_type: DataType,
    /// Canonical mapping of the Arrow type.
    pub pg_type: PgType,
}

/// The validated incoming change schema.
#[derive(Clone, Debug)]
pub(crate) struct Incoming {
    pub columns: Vec<IncomingColumn>,
    pub op_index: usize,
    pub seqno_index: usize,
    pub key: Vec<Ident>,
    pub ordering: Vec<Ident>,
}

impl Incoming {
    pub fn column(&self, ident: &Ident) -> Option<&IncomingColumn> {
        self.columns.iter().find(|c| &c.ident == ident)
    }
}

fn is_string_like(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    ) || matches!(dt, DataType::Dictionary(_, v) if matches!(**v, DataType::Utf8 | DataType::LargeUtf8))
}

/// Validate the change schema against the table spec.
pub(crate) fn analyze(spec: &TargetTable, schema: &Schema) -> Result<Incoming, PgError> {
    let table = spec.display_name();
    let invalid = |reason: String| PgError::InvalidSchema {
        table: table.clone(),
        reason,
    };
    let mut columns = Vec::new();
    let mut op_index = None;
    let mut seen_arrow: HashMap<&str, usize> = HashMap::new();
    let mut seen_ident: HashMap<Ident, String> = HashMap::new();
    for (index, f) in schema.fields().iter().enumerate() {
        let name = f.name().as_str();
        if seen_arrow.insert(name, index).is_some() {
            return Err(invalid(format!("column {name:?} appears twice")));
        }
        if name == COL_OP {
            if !matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) && !matches!(f.data_type(), DataType::Dictionary(_, v) if **v == DataType::Utf8)
            {
                return Err(invalid(format!(
                    "{COL_OP} must be a string column, got {}",
                    f.data_type()
                )));
            }
            op_index = Some(index);
            continue;
        }
        if name.starts_with(HPS_PREFIX) {
            return Err(invalid(format!(
                "column {name:?} uses the reserved prefix {HPS_PREFIX}"
            )));
        }
        let ident = Ident::for_column(name)?;
        if let Some(other) = seen_ident.insert(ident.clone(), name.to_string()) {
            return Err(invalid(format!(
                "columns {other:?} and {name:?} map to the same PostgreSQL name {ident}"
            )));
        }
        let pg_type = PgType::for_arrow(f.data_type()).ok_or_else(|| PgError::UnsupportedType {
            table: table.clone(),
            column: name.to_string(),
            arrow_type: f.data_type().to_string(),
        })?;
        columns.push(IncomingColumn {
            index,
            arrow_name: name.to_string(),
            ident,
            data_type: f.data_type().clone(),
            pg_type,
        });
    }
    let op_index = op_index.ok_or_else(|| invalid(format!("no {COL_OP} column")))?;
    for m in REQUIRED_META {
        let c = columns
            .iter()
            .find(|c| c.arrow_name == m)
            .ok_or_else(|| invalid(format!("meta column {m} is missing")))?;
        if !is_string_like(&c.data_type) {
            return Err(invalid(format!(
                "meta column {m} must be a string column, got {}",
                c.data_type
            )));
        }
    }
    let seqno_index = columns
        .iter()
        .find(|c| c.arrow_name == COL_COMMIT_SEQNO)
        .map(|c| c.index)
        .unwrap_or_default();
    let mut key = Vec::new();
    for k in &spec.key_columns {
        let c = columns.iter().find(|c| &c.arrow_name == k).ok_or_else(|| {
            PgError::KeyColumnDropped {
                table: table.clone(),
                column: k.clone(),
            }
        })?;
        if c.data_type == DataType::Null {
            return Err(invalid(format!(
                "record-key column {k:?} has Arrow type Null"
            )));
        }
        key.push(c.ident.clone());
    }
    let mut ordering = Vec::new();
    for o in &spec.ordering_columns {
        let c = columns
            .iter()
            .find(|c| &c.arrow_name == o)
            .ok_or_else(|| invalid(format!("ordering column {o:?} is missing")))?;
        ordering.push(c.ident.clone());
    }
    Ok(Incoming {
        columns,
        op_index,
        seqno_index,
        key,
        ordering,
    })
}

/// A change column of the tables (present in the current batches or not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutColumn {
    /// PostgreSQL name.
    pub name: Ident,
    /// Type in staging.
    pub staging_type: PgType,
    /// Type in landing (may be wider than staging's after a manual change; never narrower).
    pub landing_type: PgType,
}

/// The resolved table layout after [`crate::Applier::ensure_tables`].
#[derive(Clone, Debug)]
pub struct TableLayout {
    /// Validated names.
    pub names: Names,
    /// Change columns (meta + data) in staging order.
    pub columns: Vec<LayoutColumn>,
    /// Primary-key columns.
    pub key: Vec<Ident>,
    /// Ordering columns.
    pub ordering: Vec<Ident>,
    /// Delete policy.
    pub delete_policy: DeletePolicy,
    /// The version columns in comparison order: commit time, seqno key, ordering columns.
    pub version: Vec<(Ident, PgType)>,
}

impl TableLayout {
    /// A change column by name.
    pub fn column(&self, name: &Ident) -> Option<&LayoutColumn> {
        self.columns.iter().find(|c| &c.name == name)
    }

    /// Columns of the tombstone table besides the internal ones: key, commit time, record
    /// key, partition path, ordering (no duplicates).
    pub(crate) fn tombstone_columns(&self) -> Vec<&LayoutColumn> {
        let fixed: Vec<Ident> = [COL_COMMIT_TIME, COL_RECORD_KEY, COL_PARTITION_PATH]
            .iter()
            .filter_map(|n| Ident::new(n).ok())
            .collect();
        let mut out: Vec<&LayoutColumn> = Vec::new();
        for n in self
            .key
            .iter()
            .chain(fixed.iter())
            .chain(self.ordering.iter())
        {
            if out.iter().any(|c| &c.name == n) {
                continue;
            }
            if let Some(c) = self.column(n) {
                out.push(c);
            }
        }
        out
    }
}

/// The DDL to run (in order) and the layout once it ran.
#[derive(Debug)]
pub(crate) struct Plan {
    pub create_schema: bool,
    pub create_registry: bool,
    pub ddl: Vec<String>,
    pub layout: TableLayout,
}

impl Plan {
    pub fn is_noop(&self) -> bool {
        !self.create_schema && !self.create_registry && self.ddl.is_empty()
    }
}

/// Internal columns: (name, type SQL for CREATE/ADD, expected type).
fn internal_columns(kind: Kind, policy: DeletePolicy) -> Vec<(&'static str, &'static str, PgType)> {
    match kind {
        Kind::Staging => {
            let mut v = vec![
                (HPS_SEQNO_KEY, "text COLLATE \"C\"", PgType::Text),
                (HPS_LOAD_ID, "text", PgType::Text),
                (
                    HPS_APPLIED_AT,
                    "timestamp with time zone",
                    PgType::Timestamptz,
                ),
            ];
            if policy == DeletePolicy::Soft {
                v.push((HPS_DELETED, "boolean NOT NULL DEFAULT false", PgType::Bool));
                v.push((
                    HPS_DELETED_AT,
                    "timestamp with time zone",
                    PgType::Timestamptz,
                ));
            }
            v
        }
        Kind::Landing => vec![
            (HPS_LOAD_SEQ, "bigint NOT NULL", PgType::Int8),
            (HPS_LOAD_ID, "text NOT NULL", PgType::Text),
            (HPS_ROW, "bigint NOT NULL", PgType::Int8),
            (HPS_OP, "text NOT NULL", PgType::Text),
            (HPS_SEQNO_KEY, "text COLLATE \"C\"", PgType::Text),
            (
                HPS_LANDED_AT,
                "timestamp with time zone NOT NULL DEFAULT now()",
                PgType::Timestamptz,
            ),
        ],
        Kind::Tombstones => vec![
            (HPS_SEQNO_KEY, "text COLLATE \"C\"", PgType::Text),
            (HPS_LOAD_ID, "text", PgType::Text),
            (
                HPS_DELETED_AT,
                "timestamp with time zone NOT NULL DEFAULT now()",
                PgType::Timestamptz,
            ),
        ],
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Staging,
    Landing,
    Tombstones,
}

/// Column definition for CREATE / ADD COLUMN.
fn column_def(name: &Ident, ty: &PgType, not_null: bool) -> String {
    let collate = if name.as_str() == COL_COMMIT_TIME && ty.is_text() {
        " COLLATE \"C\""
    } else {
        ""
    };
    let nn = if not_null { " NOT NULL" } else { "" };
    format!("{name} {}{collate}{nn}", ty.sql())
}

fn key_list(key: &[Ident]) -> String {
    key.iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Plan the DDL bringing the catalog to the incoming schema.
pub(crate) fn plan(
    spec: &TargetTable,
    names: &Names,
    incoming: &Incoming,
    cat: &Catalog,
) -> Result<Plan, PgError> {
    let table = spec.display_name();
    let staging = cat.table(names.staging.as_str());
    let landing = cat.table(names.landing.as_str());
    let tombs = cat.table(names.tombstones.as_str());
    let hard = spec.delete_policy == DeletePolicy::Hard;

    for (t, name) in [(staging, &names.staging), (tombs, &names.tombstones)] {
        if let Some(t) = t
            && t.relkind != "r"
        {
            return Err(PgError::InvalidSchema {
                table: table.clone(),
                reason: format!("{name} exists but is not a plain table"),
            });
        }
    }
    if let Some(l) = landing
        && l.relkind != "p"
    {
        return Err(PgError::InvalidSchema {
            table: table.clone(),
            reason: format!("{} exists but is not a partitioned table", names.landing),
        });
    }

    // the staging primary key must be the configured record key
    let key_names: Vec<String> = incoming
        .key
        .iter()
        .map(|k| k.as_str().to_string())
        .collect();
    for (t, what) in [
        (staging, &names.staging),
        (if hard { tombs } else { None }, &names.tombstones),
    ] {
        if let Some(t) = t
            && t.primary_key != key_names
        {
            return Err(PgError::KeyMismatch {
                table: format!("{}.{}", names.schema, what),
                existing: t.primary_key.join(", "),
                configured: key_names.join(", "),
            });
        }
    }

    // desired change columns: existing staging order, then new incoming columns
    let mut desired: Vec<(Ident, PgType)> = Vec::new();
    if let Some(s) = staging {
        for c in &s.columns {
            if c.name.starts_with(HPS_PREFIX) {
                continue;
            }
            desired.push((Ident::new(&c.name)?, c.ty.clone()));
        }
    }
    for ic in &incoming.columns {
        match desired.iter_mut().find(|(n, _)| n == &ic.ident) {
            None => desired.push((ic.ident.clone(), ic.pg_type.clone())),
            Some((_, existing)) => {
                if ic.data_type == DataType::Null {
                    continue; // an all-null column fits any type
                }
                match compat(existing, &ic.pg_type) {
                    Compat::Same | Compat::Fits => {}
                    Compat::Widen(t) => *existing = t,
                    Compat::Incompatible => {
                        return Err(PgError::IncompatibleType {
                            table,
                            column: ic.arrow_name.clone(),
                            existing: existing.sql(),
                            incoming: describe_incoming(&ic.data_type),
                        });
                    }
                }
            }
        }
    }

    let mut ddl = Vec::new();
    let mut landing_types: HashMap<Ident, PgType> = HashMap::new();
    let is_key = |n: &Ident| incoming.key.contains(n);

    // staging
    let staging_q = names.staging_q();
    match staging {
        None => {
            let mut defs: Vec<String> = desired
                .iter()
                .map(|(n, t)| column_def(n, t, is_key(n)))
                .collect();
            for (n, sql, _) in internal_columns(Kind::Staging, spec.delete_policy) {
                defs.push(format!("{} {sql}", Ident::new(n)?));
            }
            defs.push(format!("PRIMARY KEY ({})", key_list(&incoming.key)));
            ddl.push(format!(
                "CREATE TABLE {staging_q} (\n  {}\n) WITH (fillfactor = {})",
                defs.join(",\n  "),
                spec.fillfactor
            ));
        }
        Some(s) => evolve(
            &mut ddl,
            &table,
            &staging_q,
            s,
            &desired,
            Kind::Staging,
            spec.delete_policy,
            incoming,
            None,
        )?,
    }

    // landing (partitioned by load; partitions are created per load)
    let landing_q = names.landing_q();
    match landing {
        None => {
            let mut defs: Vec<String> = Vec::new();
            for (n, sql, _) in internal_columns(Kind::Landing, spec.delete_policy) {
                defs.push(format!("{} {sql}", Ident::new(n)?));
            }
            defs.extend(desired.iter().map(|(n, t)| column_def(n, t, false)));
            ddl.push(format!(
                "CREATE TABLE {landing_q} (\n  {}\n) PARTITION BY LIST ({})",
                defs.join(",\n  "),
                Ident::new(HPS_LOAD_SEQ)?
            ));
        }
        Some(l) => evolve(
            &mut ddl,
            &table,
            &landing_q,
            l,
            &desired,
            Kind::Landing,
            spec.delete_policy,
            incoming,
            Some(&mut landing_types),
        )?,
    }

    // the layout (needed for the tombstone subset)
    let columns: Vec<LayoutColumn> = desired
        .iter()
        .map(|(n, t)| LayoutColumn {
            name: n.clone(),
            staging_type: t.clone(),
            landing_type: landing_types.get(n).cloned().unwrap_or_else(|| t.clone()),
        })
        .collect();
    let mut version: Vec<(Ident, PgType)> = vec![
        (Ident::new(COL_COMMIT_TIME)?, PgType::Text),
        (Ident::new(HPS_SEQNO_KEY)?, PgType::Text),
    ];
    for o in &incoming.ordering {
        if version.iter().any(|(n, _)| n == o) {
            continue;
        }
        let t = columns
            .iter()
            .find(|c| &c.name == o)
            .map(|c| c.staging_type.clone())
            .unwrap_or(PgType::Text);
        version.push((o.clone(), t));
    }
    let layout = TableLayout {
        names: names.clone(),
        columns,
        key: incoming.key.clone(),
        ordering: incoming.ordering.clone(),
        delete_policy: spec.delete_policy,
        version,
    };

    // tombstones (hard delete)
    if hard {
        let tomb_q = names.tombstones_q();
        let tcols: Vec<(Ident, PgType)> = layout
            .tombstone_columns()
            .into_iter()
            .map(|c| (c.name.clone(), c.staging_type.clone()))
            .collect();
        match tombs {
            None => {
                let mut defs: Vec<String> = tcols
                    .iter()
                    .map(|(n, t)| column_def(n, t, is_key(n)))
                    .collect();
                for (n, sql, _) in internal_columns(Kind::Tombstones, spec.delete_policy) {
                    defs.push(format!("{} {sql}", Ident::new(n)?));
                }
                defs.push(format!("PRIMARY KEY ({})", key_list(&incoming.key)));
                ddl.push(format!(
                    "CREATE TABLE {tomb_q} (\n  {}\n)",
                    defs.join(",\n  ")
                ));
                ddl.push(format!(
                    "CREATE INDEX ON {tomb_q} ({})",
                    Ident::new(HPS_DELETED_AT)?
                ));
            }
            Some(t) => evolve(
                &mut ddl,
                &table,
                &tomb_q,
                t,
                &tcols,
                Kind::Tombstones,
                spec.delete_policy,
                incoming,
                None,
            )?,
        }
    }

    let create_registry = cat.table(names.registry.as_str()).is_none();
    Ok(Plan {
        create_schema: !cat.schema_exists,
        create_registry,
        ddl,
        layout,
    })
}

/// ADD / ALTER TYPE statements for an existing table.
#[allow(clippy::too_many_arguments)]
fn evolve(
    ddl: &mut Vec<String>,
    table: &str,
    qname: &str,
    existing: &ExistingTable,
    desired: &[(Ident, PgType)],
    kind: Kind,
    policy: DeletePolicy,
    incoming: &Incoming,
    mut actual_types: Option<&mut HashMap<Ident, PgType>>,
) -> Result<(), PgError> {
    for (n, sql, ty) in internal_columns(kind, policy) {
        match existing.column(n) {
            None => ddl.push(format!(
                "ALTER TABLE {qname} ADD COLUMN {} {sql}",
                Ident::new(n)?
            )),
            Some(c) if c.ty != ty => {
                return Err(PgError::InvalidSchema {
                    table: table.to_string(),
                    reason: format!("{qname}.{n} is {} but this crate needs {}", c.ty, ty),
                });
            }
            Some(_) => {}
        }
    }
    for (n, want) in desired {
        match existing.column(n.as_str()) {
            None => ddl.push(format!(
                "ALTER TABLE {qname} ADD COLUMN {}",
                column_def(n, want, false)
            )),
            Some(c) => match compat(&c.ty, want) {
                Compat::Same => {}
                Compat::Fits => {
                    if let Some(m) = actual_types.as_deref_mut() {
                        m.insert(n.clone(), c.ty.clone());
                    }
                }
                Compat::Widen(t) => {
                    ddl.push(format!(
                        "ALTER TABLE {qname} ALTER COLUMN {n} TYPE {}",
                        t.sql()
                    ));
                }
                Compat::Incompatible => {
                    let incoming_desc = incoming
                        .column(n)
                        .map(|ic| describe_incoming(&ic.data_type))
                        .unwrap_or_else(|| want.sql());
                    return Err(PgError::IncompatibleType {
                        table: table.to_string(),
                        column: n.as_str().to_string(),
                        existing: format!("{} (in {qname})", c.ty),
                        incoming: incoming_desc,
                    });
                }
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::ExistingColumn;
    use arrow_schema::Field;

    fn schema(extra: Vec<Field>) -> Schema {
        let mut f = vec![
            Field::new(COL_COMMIT_TIME, DataType::Utf8, true),
            Field::new(COL_COMMIT_SEQNO, DataType::Utf8, true),
            Field::new(COL_RECORD_KEY, DataType::Utf8, true),
            Field::new(COL_PARTITION_PATH, DataType::Utf8, true),
            Field::new(COL_FILE_NAME, DataType::Utf8, true),
        ];
        f.extend(extra);
        f.push(Field::new(COL_OP, DataType::Utf8, false));
        Schema::new(f)
    }

    fn spec() -> TargetTable {
        TargetTable::for_hudi_table("t", vec!["id".into()]).with_ordering(vec!["ts".into()])
    }

    #[test]
    fn fresh_tables_are_created() {
        let s = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Int64, true),
        ]);
        let sp = spec();
        let names = sp.validate().unwrap();
        let inc = analyze(&sp, &s).unwrap();
        let p = plan(&sp, &names, &inc, &Catalog::default()).unwrap();
        assert!(p.create_schema && p.create_registry);
        assert_eq!(p.ddl.len(), 4, "{:#?}", p.ddl); // staging, landing, tombstones + index
        assert!(p.ddl[0].contains("PRIMARY KEY (\"id\")"));
        assert!(p.ddl[0].contains("\"_hoodie_commit_time\" text COLLATE \"C\""));
        assert!(p.ddl[1].contains("PARTITION BY LIST (\"_hps_load_seq\")"));
        let v: Vec<&str> = p.layout.version.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(v, vec![COL_COMMIT_TIME, HPS_SEQNO_KEY, "ts"]);
    }

    #[test]
    fn validation_errors() {
        let sp = spec();
        // no _op
        let s = Schema::new(vec![Field::new(COL_COMMIT_TIME, DataType::Utf8, true)]);
        assert!(matches!(
            analyze(&sp, &s),
            Err(PgError::InvalidSchema { .. })
        ));
        // key missing
        let s = schema(vec![Field::new("ts", DataType::Int64, true)]);
        assert!(matches!(
            analyze(&sp, &s),
            Err(PgError::KeyColumnDropped { .. })
        ));
        // reserved prefix
        let s = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("_hps_x", DataType::Int64, true),
        ]);
        assert!(matches!(
            analyze(&sp, &s),
            Err(PgError::InvalidSchema { .. })
        ));
        // unsupported type
        let s = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Int64, true),
            Field::new(
                "d",
                DataType::Duration(arrow_schema::TimeUnit::Second),
                true,
            ),
        ]);
        assert!(matches!(
            analyze(&sp, &s),
            Err(PgError::UnsupportedType { .. })
        ));
    }

    fn existing(cols: &[(&str, PgType)], kind: &str, pk: &[&str]) -> ExistingTable {
        ExistingTable {
            relkind: kind.into(),
            columns: cols
                .iter()
                .map(|(n, t)| ExistingColumn {
                    name: n.to_string(),
                    ty: t.clone(),
                })
                .collect(),
            primary_key: pk.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn evolution_plans() {
        let sp = spec().with_delete_policy(DeletePolicy::Soft);
        let names = sp.validate().unwrap();
        let meta = [
            COL_COMMIT_TIME,
            COL_COMMIT_SEQNO,
            COL_RECORD_KEY,
            COL_PARTITION_PATH,
            COL_FILE_NAME,
        ];
        let mut cols: Vec<(&str, PgType)> = meta.iter().map(|m| (*m, PgType::Text)).collect();
        cols.push(("id", PgType::Int8));
        cols.push(("ts", PgType::Int4));
        cols.push(("name", PgType::Text));
        let mut st = cols.clone();
        for (n, _, t) in internal_columns(Kind::Staging, DeletePolicy::Soft) {
            st.push((n, t));
        }
        let mut ld = cols.clone();
        for (n, _, t) in internal_columns(Kind::Landing, DeletePolicy::Soft) {
            ld.push((n, t));
        }
        let mut cat = Catalog {
            schema_exists: true,
            tables: HashMap::new(),
        };
        cat.tables.insert("t".into(), existing(&st, "r", &["id"]));
        cat.tables
            .insert("t__landing".into(), existing(&ld, "p", &[]));
        cat.tables
            .insert(names.registry.as_str().into(), existing(&[], "r", &[]));

        // same schema: nothing to do
        let s = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Int32, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let p = plan(&sp, &names, &analyze(&sp, &s).unwrap(), &cat).unwrap();
        assert!(p.is_noop(), "{:#?}", p.ddl);

        // widen ts, add a column, drop name (kept)
        let s = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Int64, true),
            Field::new("extra", DataType::Float64, true),
        ]);
        let p = plan(&sp, &names, &analyze(&sp, &s).unwrap(), &cat).unwrap();
        assert_eq!(p.ddl.len(), 4, "{:#?}", p.ddl);
        assert!(
            p.ddl
                .iter()
                .any(|d| d == "ALTER TABLE \"hudi\".\"t\" ALTER COLUMN \"ts\" TYPE bigint")
        );
        assert!(
            p.ddl.iter().any(|d| d
                == "ALTER TABLE \"hudi\".\"t__landing\" ADD COLUMN \"extra\" double precision")
        );
        assert!(p.layout.column(&Ident::new("name").unwrap()).is_some());

        // narrower incoming int fits without DDL
        let s = schema(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("ts", DataType::Int16, true),
        ]);
        assert!(
            plan(&sp, &names, &analyze(&sp, &s).unwrap(), &cat)
                .unwrap()
                .is_noop()
        );

        // string -> int: typed error naming the column and both types
        let s = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Int32, true),
            Field::new("name", DataType::Int32, true),
        ]);
        match plan(&sp, &names, &analyze(&sp, &s).unwrap(), &cat) {
            Err(PgError::IncompatibleType {
                column,
                existing,
                incoming,
                ..
            }) => {
                assert_eq!(column, "name");
                assert_eq!(existing, "text");
                assert!(incoming.contains("Int32"), "{incoming}");
            }
            other => panic!("{other:?}"),
        }

        // a different key
        let sp2 = TargetTable::for_hudi_table("t", vec!["name".into()])
            .with_delete_policy(DeletePolicy::Soft);
        let s = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        assert!(matches!(
            plan(&sp2, &names, &analyze(&sp2, &s).unwrap(), &cat),
            Err(PgError::KeyMismatch { .. })
        ));
    }
}
