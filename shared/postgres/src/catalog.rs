//! What already exists in PostgreSQL: columns and primary keys of the three tables.

use std::collections::HashMap;

use tokio_postgres::GenericClient;

use crate::error::PgError;
use crate::spec::Names;
use crate::types::PgType;

/// One existing column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExistingColumn {
    pub name: String,
    pub ty: PgType,
}

/// One existing table.
#[derive(Clone, Debug, Default)]
pub(crate) struct ExistingTable {
    /// `pg_class.relkind`: `r` table, `p` partitioned table, others unexpected.
    pub relkind: String,
    pub columns: Vec<ExistingColumn>,
    /// Primary-key columns in key order (empty when none).
    pub primary_key: Vec<String>,
}

impl ExistingTable {
    pub fn column(&self, name: &str) -> Option<&ExistingColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Catalog snapshot for one [`crate::TargetTable`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalog {
    pub schema_exists: bool,
    pub tables: HashMap<String, ExistingTable>,
}

impl Catalog {
    pub fn table(&self, name: &str) -> Option<&ExistingTable> {
        self.tables.get(name)
    }
}

/// Read the catalog for the staging, landing, tombstone and registry tables of `names`.
pub(crate) async fn read_catalog<C: GenericClient + Sync>(
    client: &C,
    names: &Names,
    context: &str,
) -> Result<Catalog, PgError> {
    let db = |e| PgError::db(format!("{context}: reading the catalog"), e);
    let schema = names.schema.as_str();
    let wanted: Vec<String> = [
        &names.staging,
        &names.landing,
        &names.tombstones,
        &names.registry,
        &names.history,
    ]
    .iter()
    .map(|i| i.as_str().to_string())
    .collect();
    let row = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .map_err(db)?;
    let mut cat = Catalog {
        schema_exists: row.get(0),
        tables: HashMap::new(),
    };
    if !cat.schema_exists {
        return Ok(cat);
    }
    let rows = client
        .query(
            "SELECT c.relname::text, c.relkind::text, a.attname::text, a.atttypid::int8, a.atttypmod, \
                    format_type(a.atttypid, a.atttypmod) \
             FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE n.nspname = $1 AND c.relname::text = ANY($2) \
             ORDER BY c.relname, a.attnum",
            &[&schema, &wanted],
        )
        .await
        .map_err(db)?;
    for r in rows {
        let rel: String = r.get(0);
        let kind: String = r.get(1);
        let t = cat.tables.entry(rel).or_insert_with(|| ExistingTable {
            relkind: kind,
            ..Default::default()
        });
        let name: Option<String> = r.get(2);
        if let Some(name) = name {
            let oid: i64 = r.get(3);
            let typmod: i32 = r.get(4);
            let formatted: String = r.get(5);
            t.columns.push(ExistingColumn {
                name,
                ty: PgType::from_catalog(oid as u32, typmod, &formatted),
            });
        }
    }
    let pk_rows = client
        .query(
            "SELECT c.relname::text, a.attname::text \
             FROM pg_index i \
             JOIN pg_class c ON c.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE n.nspname = $1 AND c.relname::text = ANY($2) AND i.indisprimary \
             ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)",
            &[&schema, &wanted],
        )
        .await
        .map_err(db)?;
    for r in pk_rows {
        let rel: String = r.get(0);
        let col: String = r.get(1);
        if let Some(t) = cat.tables.get_mut(&rel) {
            t.primary_key.push(col);
        }
    }
    Ok(cat)
}
