//! Table layout: which columns the landing, staging and tombstone tables have, and the DDL
//! (create, add column, safe widening) that brings existing tables to the incoming schema.
//! Planning is pure: every incompatibility is found before any statement runs.

use std::collections::HashMap;

use arrow_schema::{DataType, Schema};

use crate::catalog::{Catalog, ExistingTable};
use crate::error::PgError;
use crate::ident::Ident;
use crate::spec::{DeletePolicy, Names, OnSchemaChange, TargetTable};
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

    /// The columns `layout` has (under `on_schema_change = freeze`, columns new in the
    /// incoming schema are not loaded).
    pub fn projected(mut self, layout: &TableLayout) -> Incoming {
        self.columns.retain(|c| layout.column(&c.ident).is_some());
        self
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

/// Why a DDL statement runs (recorded in the schema history).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DdlReason {
    /// A table (or its index) created.
    Created,
    /// A change column added.
    NewColumn,
    /// A column's type widened.
    Widening,
    /// A column of this crate's own (`_hps_…`) added.
    Internal,
}

impl DdlReason {
    /// The history's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DdlReason::Created => "created",
            DdlReason::NewColumn => "new column",
            DdlReason::Widening => "widening",
            DdlReason::Internal => "internal column",
        }
    }
}

/// One planned DDL statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ddl {
    /// The table it changes (unqualified, in the target's schema).
    pub target: Ident,
    /// The statement.
    pub sql: String,
    /// Why.
    pub reason: DdlReason,
    /// What changes, for messages: `new column "note" text`, `column "ts" integer -> bigint`.
    pub change: String,
}

/// The DDL to run (in order) and the layout once it ran.
#[derive(Debug)]
pub(crate) struct Plan {
    pub create_schema: bool,
    pub create_registry: bool,
    /// The schema history table is missing and there is DDL to record.
    pub create_history: bool,
    pub ddl: Vec<Ddl>,
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

/// What one planning step needs to know about the target.
struct Ctx<'a> {
    spec: &'a TargetTable,
    names: &'a Names,
    incoming: &'a Incoming,
    /// `spec.display_name()` (messages).
    table: String,
}

impl Ctx<'_> {
    fn is_key(&self, n: &Ident) -> bool {
        self.incoming.key.contains(n)
    }

    fn instant(&self) -> Option<String> {
        self.spec.source.as_ref().and_then(|s| s.instant.clone())
    }
}

/// The tables that exist, checked: plain tables, a partitioned landing table, and primary
/// keys equal to the configured record key.
struct Existing<'a> {
    staging: Option<&'a ExistingTable>,
    landing: Option<&'a ExistingTable>,
    tombs: Option<&'a ExistingTable>,
}

/// The change columns the tables are to have, in staging order, with staging's types.
type Desired = Vec<(Ident, PgType)>;

/// Plan the DDL bringing the catalog to the incoming schema, under `spec.on_schema_change`.
pub(crate) fn plan(
    spec: &TargetTable,
    names: &Names,
    incoming: &Incoming,
    cat: &Catalog,
) -> Result<Plan, PgError> {
    let cx = Ctx {
        spec,
        names,
        incoming,
        table: spec.display_name(),
    };
    let existing = existing_tables(&cx, cat)?;
    let desired = desired_columns(&cx, existing.staging)?;
    let mut ddl = staging_ddl(&cx, existing.staging, &desired)?;
    if existing.staging.is_some() {
        check_stop(&cx, &ddl)?;
    }
    let landing_types = landing_ddl(&cx, existing.landing, &desired, &mut ddl)?;
    let layout = build_layout(&cx, &desired, &landing_types)?;
    if spec.delete_policy == DeletePolicy::Hard {
        tombstone_ddl(&cx, existing.tombs, &layout, &mut ddl)?;
    }
    Ok(Plan {
        create_schema: !cat.schema_exists,
        create_registry: cat.table(names.registry.as_str()).is_none(),
        create_history: !ddl.is_empty() && cat.table(names.history.as_str()).is_none(),
        ddl,
        layout,
    })
}

/// The existing tables of the target, checked.
fn existing_tables<'a>(cx: &Ctx<'_>, cat: &'a Catalog) -> Result<Existing<'a>, PgError> {
    let names = cx.names;
    let e = Existing {
        staging: cat.table(names.staging.as_str()),
        landing: cat.table(names.landing.as_str()),
        tombs: cat.table(names.tombstones.as_str()),
    };
    for (t, name) in [(e.staging, &names.staging), (e.tombs, &names.tombstones)] {
        if let Some(t) = t
            && t.relkind != "r"
        {
            return Err(PgError::InvalidSchema {
                table: cx.table.clone(),
                reason: format!("{name} exists but is not a plain table"),
            });
        }
    }
    if let Some(l) = e.landing
        && l.relkind != "p"
    {
        return Err(PgError::InvalidSchema {
            table: cx.table.clone(),
            reason: format!("{} exists but is not a partitioned table", names.landing),
        });
    }
    // the staging primary key must be the configured record key
    let key_names: Vec<String> = cx
        .incoming
        .key
        .iter()
        .map(|k| k.as_str().to_string())
        .collect();
    let hard = cx.spec.delete_policy == DeletePolicy::Hard;
    for (t, what) in [
        (e.staging, &names.staging),
        (if hard { e.tombs } else { None }, &names.tombstones),
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
    Ok(e)
}

/// The desired change columns: existing staging order, then new incoming columns (none under
/// `freeze` once staging exists), existing types widened where the incoming type needs it.
fn desired_columns(cx: &Ctx<'_>, staging: Option<&ExistingTable>) -> Result<Desired, PgError> {
    let frozen = staging.is_some() && cx.spec.on_schema_change == OnSchemaChange::Freeze;
    let mut desired: Desired = Vec::new();
    if let Some(s) = staging {
        for c in &s.columns {
            if c.name.starts_with(HPS_PREFIX) {
                continue;
            }
            desired.push((Ident::new(&c.name)?, c.ty.clone()));
        }
    }
    for ic in &cx.incoming.columns {
        match desired.iter_mut().find(|(n, _)| n == &ic.ident) {
            None if frozen => {} // not loaded: projected out of the COPY
            None => desired.push((ic.ident.clone(), ic.pg_type.clone())),
            Some(_) if ic.data_type == DataType::Null => {} // an all-null column fits any type
            Some((_, existing)) => match compat(existing, &ic.pg_type) {
                Compat::Same | Compat::Fits => {}
                Compat::Widen(_) if frozen => {
                    return Err(PgError::SchemaFrozen {
                        table: cx.table.clone(),
                        instant: cx.instant(),
                        column: ic.arrow_name.clone(),
                        existing: existing.sql(),
                        incoming: describe_incoming(&ic.data_type),
                    });
                }
                Compat::Widen(t) => *existing = t,
                Compat::Incompatible => {
                    return Err(PgError::IncompatibleType {
                        table: cx.table.clone(),
                        column: ic.arrow_name.clone(),
                        existing: existing.sql(),
                        incoming: describe_incoming(&ic.data_type),
                    });
                }
            },
        }
    }
    Ok(desired)
}

/// `on_schema_change = stop`: refuse DDL that changes an existing staging table's columns.
fn check_stop(cx: &Ctx<'_>, staging_ddl: &[Ddl]) -> Result<(), PgError> {
    if cx.spec.on_schema_change != OnSchemaChange::Stop {
        return Ok(());
    }
    let changes: Vec<String> = staging_ddl
        .iter()
        .filter(|d| matches!(d.reason, DdlReason::NewColumn | DdlReason::Widening))
        .map(|d| d.change.clone())
        .collect();
    if changes.is_empty() {
        return Ok(());
    }
    Err(PgError::SchemaChangeStopped {
        table: cx.table.clone(),
        instant: cx.instant(),
        changes,
    })
}

/// CREATE or evolve staging.
fn staging_ddl(
    cx: &Ctx<'_>,
    staging: Option<&ExistingTable>,
    desired: &Desired,
) -> Result<Vec<Ddl>, PgError> {
    let staging_q = cx.names.staging_q();
    let mut ddl = Vec::new();
    match staging {
        None => {
            let mut defs: Vec<String> = desired
                .iter()
                .map(|(n, t)| column_def(n, t, cx.is_key(n)))
                .collect();
            for (n, sql, _) in internal_columns(Kind::Staging, cx.spec.delete_policy) {
                defs.push(format!("{} {sql}", Ident::new(n)?));
            }
            defs.push(format!("PRIMARY KEY ({})", key_list(&cx.incoming.key)));
            ddl.push(Ddl {
                target: cx.names.staging.clone(),
                sql: format!(
                    "CREATE TABLE {staging_q} (\n  {}\n) WITH (fillfactor = {})",
                    defs.join(",\n  "),
                    cx.spec.fillfactor
                ),
                reason: DdlReason::Created,
                change: format!("table {staging_q} created"),
            });
        }
        Some(s) => {
            let target = Evolving {
                name: &cx.names.staging,
                qname: &staging_q,
                existing: s,
                kind: Kind::Staging,
            };
            evolve(cx, &target, desired, &mut ddl, None)?;
        }
    }
    Ok(ddl)
}

/// CREATE or evolve landing (partitioned by load; partitions are created per load); returns
/// the landing types that differ from staging's (a wider column left as it is).
fn landing_ddl(
    cx: &Ctx<'_>,
    landing: Option<&ExistingTable>,
    desired: &Desired,
    ddl: &mut Vec<Ddl>,
) -> Result<HashMap<Ident, PgType>, PgError> {
    let landing_q = cx.names.landing_q();
    let mut landing_types = HashMap::new();
    match landing {
        None => {
            let mut defs: Vec<String> = Vec::new();
            for (n, sql, _) in internal_columns(Kind::Landing, cx.spec.delete_policy) {
                defs.push(format!("{} {sql}", Ident::new(n)?));
            }
            defs.extend(desired.iter().map(|(n, t)| column_def(n, t, false)));
            ddl.push(Ddl {
                target: cx.names.landing.clone(),
                sql: format!(
                    "CREATE TABLE {landing_q} (\n  {}\n) PARTITION BY LIST ({})",
                    defs.join(",\n  "),
                    Ident::new(HPS_LOAD_SEQ)?
                ),
                reason: DdlReason::Created,
                change: format!("table {landing_q} created"),
            });
        }
        Some(l) => {
            let target = Evolving {
                name: &cx.names.landing,
                qname: &landing_q,
                existing: l,
                kind: Kind::Landing,
            };
            evolve(cx, &target, desired, ddl, Some(&mut landing_types))?;
        }
    }
    Ok(landing_types)
}

/// The layout once the DDL ran; `landing_types` are landing's types where they differ.
fn build_layout(
    cx: &Ctx<'_>,
    desired: &Desired,
    landing_types: &HashMap<Ident, PgType>,
) -> Result<TableLayout, PgError> {
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
    for o in &cx.incoming.ordering {
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
    Ok(TableLayout {
        names: cx.names.clone(),
        columns,
        key: cx.incoming.key.clone(),
        ordering: cx.incoming.ordering.clone(),
        delete_policy: cx.spec.delete_policy,
        version,
    })
}

/// CREATE or evolve the tombstone table (hard deletes).
fn tombstone_ddl(
    cx: &Ctx<'_>,
    tombs: Option<&ExistingTable>,
    layout: &TableLayout,
    ddl: &mut Vec<Ddl>,
) -> Result<(), PgError> {
    let tomb_q = cx.names.tombstones_q();
    let tcols: Desired = layout
        .tombstone_columns()
        .into_iter()
        .map(|c| (c.name.clone(), c.staging_type.clone()))
        .collect();
    match tombs {
        None => {
            let mut defs: Vec<String> = tcols
                .iter()
                .map(|(n, t)| column_def(n, t, cx.is_key(n)))
                .collect();
            for (n, sql, _) in internal_columns(Kind::Tombstones, cx.spec.delete_policy) {
                defs.push(format!("{} {sql}", Ident::new(n)?));
            }
            defs.push(format!("PRIMARY KEY ({})", key_list(&cx.incoming.key)));
            let created = |sql: String| Ddl {
                target: cx.names.tombstones.clone(),
                sql,
                reason: DdlReason::Created,
                change: format!("table {tomb_q} created"),
            };
            ddl.push(created(format!(
                "CREATE TABLE {tomb_q} (\n  {}\n)",
                defs.join(",\n  ")
            )));
            ddl.push(created(format!(
                "CREATE INDEX ON {tomb_q} ({})",
                Ident::new(HPS_DELETED_AT)?
            )));
        }
        Some(t) => {
            let target = Evolving {
                name: &cx.names.tombstones,
                qname: &tomb_q,
                existing: t,
                kind: Kind::Tombstones,
            };
            evolve(cx, &target, &tcols, ddl, None)?;
        }
    }
    Ok(())
}

/// An existing table being brought to the desired columns.
struct Evolving<'a> {
    name: &'a Ident,
    qname: &'a str,
    existing: &'a ExistingTable,
    kind: Kind,
}

/// ADD / ALTER TYPE statements for an existing table; `actual_types` collects the columns
/// left wider than desired.
fn evolve(
    cx: &Ctx<'_>,
    t: &Evolving<'_>,
    desired: &[(Ident, PgType)],
    ddl: &mut Vec<Ddl>,
    mut actual_types: Option<&mut HashMap<Ident, PgType>>,
) -> Result<(), PgError> {
    let qname = t.qname;
    let push = |ddl: &mut Vec<Ddl>, sql: String, reason: DdlReason, change: String| {
        ddl.push(Ddl {
            target: t.name.clone(),
            sql,
            reason,
            change,
        })
    };
    for (n, sql, ty) in internal_columns(t.kind, cx.spec.delete_policy) {
        match t.existing.column(n) {
            None => {
                let n = Ident::new(n)?;
                push(
                    ddl,
                    format!("ALTER TABLE {qname} ADD COLUMN {n} {sql}"),
                    DdlReason::Internal,
                    format!("internal column {n} in {qname}"),
                );
            }
            Some(c) if c.ty != ty => {
                return Err(PgError::InvalidSchema {
                    table: cx.table.clone(),
                    reason: format!("{qname}.{n} is {} but this crate needs {}", c.ty, ty),
                });
            }
            Some(_) => {}
        }
    }
    for (n, want) in desired {
        match t.existing.column(n.as_str()) {
            None => push(
                ddl,
                format!(
                    "ALTER TABLE {qname} ADD COLUMN {}",
                    column_def(n, want, false)
                ),
                DdlReason::NewColumn,
                format!("new column {n} {want}"),
            ),
            Some(c) => match compat(&c.ty, want) {
                Compat::Same => {}
                Compat::Fits => {
                    if let Some(m) = actual_types.as_deref_mut() {
                        m.insert(n.clone(), c.ty.clone());
                    }
                }
                Compat::Widen(w) => push(
                    ddl,
                    format!("ALTER TABLE {qname} ALTER COLUMN {n} TYPE {}", w.sql()),
                    DdlReason::Widening,
                    format!("column {n} {} -> {w}", c.ty),
                ),
                Compat::Incompatible => {
                    let incoming_desc = cx
                        .incoming
                        .column(n)
                        .map(|ic| describe_incoming(&ic.data_type))
                        .unwrap_or_else(|| want.sql());
                    return Err(PgError::IncompatibleType {
                        table: cx.table.clone(),
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
        assert!(p.ddl[0].sql.contains("PRIMARY KEY (\"id\")"));
        assert!(
            p.ddl[0]
                .sql
                .contains("\"_hoodie_commit_time\" text COLLATE \"C\"")
        );
        assert!(
            p.ddl[1]
                .sql
                .contains("PARTITION BY LIST (\"_hps_load_seq\")")
        );
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

    /// A catalog where staging `t` (soft deletes) and its landing table have meta, `id`
    /// bigint, `ts` integer and `name` text.
    fn soft_catalog(names: &Names) -> Catalog {
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
        cat
    }

    #[test]
    fn schema_change_modes() {
        let evolved = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Int64, true),
            Field::new("extra", DataType::Float64, true),
        ]);
        // freeze: no DDL, the new column projected out, the widening refused by name
        let sp = spec()
            .with_delete_policy(DeletePolicy::Soft)
            .with_on_schema_change(OnSchemaChange::Freeze);
        let names = sp.validate().unwrap();
        let cat = soft_catalog(&names);
        let added = schema(vec![
            Field::new("id", DataType::Int32, true),
            Field::new("ts", DataType::Int32, true),
            Field::new("extra", DataType::Float64, true),
        ]);
        let inc = analyze(&sp, &added).unwrap();
        let p = plan(&sp, &names, &inc, &cat).unwrap();
        assert!(p.is_noop(), "{:#?}", p.ddl);
        assert!(p.layout.column(&Ident::new("extra").unwrap()).is_none());
        let proj = inc.projected(&p.layout);
        let kept: Vec<&str> = proj.columns.iter().map(|c| c.arrow_name.as_str()).collect();
        assert!(kept.contains(&"ts") && !kept.contains(&"extra"), "{kept:?}");
        match plan(&sp, &names, &analyze(&sp, &evolved).unwrap(), &cat) {
            Err(e @ PgError::SchemaFrozen { .. }) => {
                let m = e.to_string();
                assert!(
                    m.contains("\"ts\"") && m.contains("integer") && m.contains("bigint"),
                    "{m}"
                );
            }
            other => panic!("{other:?}"),
        }
        // stop: every change named, with the instant the caller gave
        let mut sp = sp.with_on_schema_change(OnSchemaChange::Stop);
        sp.source = Some(crate::spec::ChangeSource {
            table_id: "t".into(),
            instant: Some("20240102000000000".into()),
        });
        match plan(&sp, &names, &analyze(&sp, &evolved).unwrap(), &cat) {
            Err(e @ PgError::SchemaChangeStopped { .. }) => {
                let m = e.to_string();
                assert!(m.contains("at instant 20240102000000000"), "{m}");
                assert!(m.contains("new column \"extra\" double precision"), "{m}");
                assert!(m.contains("column \"ts\" integer -> bigint"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        // stop lets an unchanged schema and a fresh table through
        let same = schema(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ts", DataType::Int32, true),
        ]);
        assert!(
            plan(&sp, &names, &analyze(&sp, &same).unwrap(), &cat)
                .unwrap()
                .is_noop()
        );
        let fresh = plan(
            &sp,
            &names,
            &analyze(&sp, &evolved).unwrap(),
            &Catalog::default(),
        )
        .unwrap();
        assert!(fresh.create_history);
        assert!(fresh.ddl.iter().all(|d| d.reason == DdlReason::Created));
        // evolve: the reasons the history records
        let sp = sp.with_on_schema_change(OnSchemaChange::Evolve);
        let p = plan(&sp, &names, &analyze(&sp, &evolved).unwrap(), &cat).unwrap();
        let staging: Vec<DdlReason> = p
            .ddl
            .iter()
            .filter(|d| d.target == names.staging)
            .map(|d| d.reason)
            .collect();
        assert_eq!(staging, vec![DdlReason::Widening, DdlReason::NewColumn]);
        assert!(p.create_history);
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
                .any(|d| d.sql == "ALTER TABLE \"hudi\".\"t\" ALTER COLUMN \"ts\" TYPE bigint")
        );
        assert!(p.ddl.iter().any(|d| d.sql
            == "ALTER TABLE \"hudi\".\"t__landing\" ADD COLUMN \"extra\" double precision"));
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
