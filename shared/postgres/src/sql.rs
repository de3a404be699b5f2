//! SQL text of the apply path. Identifiers are quoted [`Ident`]s; the only values in the text
//! are this crate's own constants (`'delete'`) and integers it generated (the load sequence in
//! the partition bound); everything else is bound as a parameter.

use crate::ident::Ident;
use crate::layout::{
    COL_COMMIT_SEQNO, COL_COMMIT_TIME, COL_PARTITION_PATH, COL_RECORD_KEY, HPS_APPLIED_AT,
    HPS_DELETED, HPS_DELETED_AT, HPS_LOAD_ID, HPS_OP, HPS_ROW, HPS_SEQNO_KEY, TableLayout,
};
use crate::spec::DeletePolicy;
use crate::types::PgType;

fn q(name: &str) -> String {
    crate::ident::quote_ident(name)
}

/// `alias."col"` (alias may be empty).
fn col(alias: &str, name: &Ident) -> String {
    if alias.is_empty() {
        name.to_string()
    } else {
        format!("{alias}.{name}")
    }
}

fn collate(ty: &PgType) -> &'static str {
    if ty.is_text() { " COLLATE \"C\"" } else { "" }
}

/// `new` is strictly newer than `old`: lexicographic over the version columns, NULL lowest,
/// text compared byte-wise. Never NULL itself.
pub(crate) fn version_gt(new: &str, old: &str, version: &[(Ident, PgType)]) -> String {
    let gt = |(n, t): &(Ident, PgType)| {
        let (a, b, c) = (col(new, n), col(old, n), collate(t));
        format!("COALESCE({a}{c} > {b}{c}, {a} IS NOT NULL AND {b} IS NULL)")
    };
    let eq =
        |(n, _): &(Ident, PgType)| format!("{} IS NOT DISTINCT FROM {}", col(new, n), col(old, n));
    let Some(last) = version.last() else {
        return "false".into();
    };
    let mut acc = gt(last);
    for v in version[..version.len() - 1].iter().rev() {
        acc = format!("{} OR ({} AND ({acc}))", gt(v), eq(v));
    }
    format!("({acc})")
}

fn key_eq(a: &str, b: &str, key: &[Ident]) -> String {
    key.iter()
        .map(|k| format!("{} = {}", col(a, k), col(b, k)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn list(alias: &str, cols: &[&Ident]) -> String {
    cols.iter()
        .map(|c| col(alias, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `COPY <partition> (<cols>) FROM STDIN (FORMAT binary)`.
pub(crate) fn copy_statement(partition_q: &str, columns: &[String]) -> String {
    let cols: Vec<String> = columns.iter().map(|c| q(c)).collect();
    format!(
        "COPY {partition_q} ({}) FROM STDIN (FORMAT binary)",
        cols.join(", ")
    )
}

/// The `latest` CTE: one row per key, the newest version (ties: last landed row).
fn latest_cte(layout: &TableLayout, partition_q: &str) -> String {
    let cols: Vec<&Ident> = layout.columns.iter().map(|c| &c.name).collect();
    let keys: Vec<&Ident> = layout.key.iter().collect();
    let mut order: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    for (n, t) in &layout.version {
        order.push(format!("{n}{} DESC NULLS LAST", collate(t)));
    }
    order.push(format!("{} DESC", q(HPS_ROW)));
    format!(
        "latest AS MATERIALIZED (\n  SELECT DISTINCT ON ({keys}) {cols}, {seq}, ({op} = 'delete') AS _hps_del\n  FROM {partition_q}\n  ORDER BY {order}\n)",
        keys = list("", &keys),
        cols = list("", &cols),
        seq = q(HPS_SEQNO_KEY),
        op = q(HPS_OP),
        order = order.join(", "),
    )
}

/// The one set-based statement applying a landed load to staging (and tombstones). `$1` is
/// the load id. Returns one row: keys, inserted, updated, deleted, removed (all bigint).
///
/// `after_direct`: the same transaction loaded rows of this load straight into an empty
/// staging table first (their `_hps_load_id` is `$1`; no other row can have it, the table was
/// empty). They came earlier in the load, so a landed row whose version *equals* one of them
/// wins, as the later of two tied rows does within the landing path.
pub(crate) fn merge_statement(
    layout: &TableLayout,
    partition_q: &str,
    after_direct: bool,
) -> String {
    match layout.delete_policy {
        DeletePolicy::Soft => merge_soft(layout, partition_q, after_direct),
        DeletePolicy::Hard => merge_hard(layout, partition_q, after_direct),
    }
}

/// `new` overwrites the staging row `old`: strictly newer, or (after a direct phase) tied with
/// a row this load wrote directly.
fn overwrites(new: &str, old: &str, version: &[(Ident, PgType)], after_direct: bool) -> String {
    let gt = version_gt(new, old, version);
    if !after_direct {
        return gt;
    }
    let eq: Vec<String> = version
        .iter()
        .map(|(n, _)| format!("{} IS NOT DISTINCT FROM {}", col(new, n), col(old, n)))
        .collect();
    format!(
        "({gt} OR ({}.{} = $1 AND {}))",
        old,
        q(HPS_LOAD_ID),
        eq.join(" AND ")
    )
}

fn is_meta_version(n: &Ident) -> bool {
    [
        COL_COMMIT_TIME,
        COL_COMMIT_SEQNO,
        COL_RECORD_KEY,
        COL_PARTITION_PATH,
    ]
    .contains(&n.as_str())
}

fn merge_soft(layout: &TableLayout, partition_q: &str, after_direct: bool) -> String {
    let names = &layout.names;
    let cols: Vec<&Ident> = layout.columns.iter().map(|c| &c.name).collect();
    let keys: Vec<&Ident> = layout.key.iter().collect();
    let deleted = q(HPS_DELETED);
    let mut sets = Vec::new();
    for c in &cols {
        if layout.key.contains(c) {
            continue;
        }
        let ex = col("EXCLUDED", c);
        // a row this load wrote directly was never seen by staging before the load: a delete
        // that overwrites it leaves what a delete of an unknown key would (landing path)
        let old = if after_direct {
            format!(
                "CASE WHEN s.{} = $1 THEN {ex} ELSE {} END",
                q(HPS_LOAD_ID),
                col("s", c)
            )
        } else {
            col("s", c)
        };
        if is_meta_version(c) {
            sets.push(format!("{c} = {ex}"));
        } else if layout.ordering.contains(c) {
            sets.push(format!(
                "{c} = CASE WHEN EXCLUDED.{deleted} THEN COALESCE({ex}, {old}) ELSE {ex} END"
            ));
        } else {
            sets.push(format!(
                "{c} = CASE WHEN EXCLUDED.{deleted} THEN {old} ELSE {ex} END"
            ));
        }
    }
    for n in [
        HPS_SEQNO_KEY,
        HPS_LOAD_ID,
        HPS_APPLIED_AT,
        HPS_DELETED,
        HPS_DELETED_AT,
    ] {
        sets.push(format!("{} = EXCLUDED.{}", q(n), q(n)));
    }
    format!(
        "WITH {latest},\n\
         applied AS (\n  INSERT INTO {staging} AS s ({cols}, {seq}, {load}, {at}, {deleted}, {del_at})\n  \
           SELECT {cols}, {seq}, $1, now(), _hps_del, CASE WHEN _hps_del THEN now() END FROM latest\n  \
           ON CONFLICT ({keys}) DO UPDATE SET {sets}\n  \
           WHERE {guard}\n  \
           RETURNING (s.xmax = 0) AS ins, s.{deleted} AS del\n)\n\
         SELECT (SELECT count(*) FROM latest),\n  \
           count(*) FILTER (WHERE ins AND NOT del),\n  \
           count(*) FILTER (WHERE NOT ins AND NOT del),\n  \
           count(*) FILTER (WHERE del),\n  \
           count(*) FILTER (WHERE del AND NOT ins)\n\
         FROM applied",
        latest = latest_cte(layout, partition_q),
        staging = names.staging_q(),
        cols = list("", &cols),
        seq = q(HPS_SEQNO_KEY),
        load = q(HPS_LOAD_ID),
        at = q(HPS_APPLIED_AT),
        del_at = q(HPS_DELETED_AT),
        keys = list("", &keys),
        sets = sets.join(", "),
        guard = overwrites("EXCLUDED", "s", &layout.version, after_direct),
    )
}

fn merge_hard(layout: &TableLayout, partition_q: &str, after_direct: bool) -> String {
    let names = &layout.names;
    let cols: Vec<&Ident> = layout.columns.iter().map(|c| &c.name).collect();
    let keys: Vec<&Ident> = layout.key.iter().collect();
    let tcols: Vec<&Ident> = layout
        .tombstone_columns()
        .into_iter()
        .map(|c| &c.name)
        .collect();
    let seq = q(HPS_SEQNO_KEY);
    let load = q(HPS_LOAD_ID);
    let v = &layout.version;

    let staging_sets: Vec<String> = cols
        .iter()
        .filter(|c| !layout.key.contains(c))
        .map(|c| format!("{c} = {}", col("EXCLUDED", c)))
        .chain(
            [HPS_SEQNO_KEY, HPS_LOAD_ID, HPS_APPLIED_AT]
                .iter()
                .map(|n| format!("{} = EXCLUDED.{}", q(n), q(n))),
        )
        .collect();
    let tomb_sets: Vec<String> = tcols
        .iter()
        .filter(|c| !layout.key.contains(c))
        .map(|c| format!("{c} = {}", col("EXCLUDED", c)))
        .chain(
            [HPS_SEQNO_KEY, HPS_LOAD_ID, HPS_DELETED_AT]
                .iter()
                .map(|n| format!("{} = EXCLUDED.{}", q(n), q(n))),
        )
        .collect();

    format!(
        "WITH {latest},\n\
         removed AS (\n  DELETE FROM {staging} s USING latest l\n  \
           WHERE l._hps_del AND {kl_s} AND {gt_l_s}\n  RETURNING 1\n),\n\
         tomb AS (\n  INSERT INTO {tombs} AS t ({tcols}, {seq}, {load}, {del_at})\n  \
           SELECT {l_tcols}, l.{seq}, $1, now() FROM latest l\n  \
           WHERE l._hps_del AND NOT EXISTS (SELECT 1 FROM {staging} s WHERE {kl_s} AND NOT {gt_l_s})\n  \
           ON CONFLICT ({keys}) DO UPDATE SET {tomb_sets}\n  \
           WHERE {gt_ex_t}\n  RETURNING 1\n),\n\
         untomb AS (\n  DELETE FROM {tombs} t USING latest l\n  \
           WHERE NOT l._hps_del AND {kl_t} AND {gt_l_t}\n  RETURNING 1\n),\n\
         upserted AS (\n  INSERT INTO {staging} AS s ({cols}, {seq}, {load}, {at})\n  \
           SELECT {l_cols}, l.{seq}, $1, now() FROM latest l\n  \
           WHERE NOT l._hps_del AND NOT EXISTS (SELECT 1 FROM {tombs} t WHERE {kl_t} AND NOT {gt_l_t})\n  \
           ON CONFLICT ({keys}) DO UPDATE SET {staging_sets}\n  \
           WHERE {gt_ex_s}\n  RETURNING (s.xmax = 0) AS ins\n)\n\
         SELECT (SELECT count(*) FROM latest),\n  \
           (SELECT count(*) FROM upserted WHERE ins),\n  \
           (SELECT count(*) FROM upserted WHERE NOT ins),\n  \
           (SELECT count(*) FROM tomb),\n  \
           (SELECT count(*) FROM removed)",
        latest = latest_cte(layout, partition_q),
        staging = names.staging_q(),
        tombs = names.tombstones_q(),
        kl_s = key_eq("s", "l", &layout.key),
        kl_t = key_eq("t", "l", &layout.key),
        gt_l_s = overwrites("l", "s", v, after_direct),
        gt_l_t = version_gt("l", "t", v),
        gt_ex_t = version_gt("EXCLUDED", "t", v),
        gt_ex_s = overwrites("EXCLUDED", "s", v, after_direct),
        tcols = list("", &tcols),
        l_tcols = list("l", &tcols),
        cols = list("", &cols),
        l_cols = list("l", &cols),
        keys = list("", &keys),
        at = q(HPS_APPLIED_AT),
        del_at = q(HPS_DELETED_AT),
        tomb_sets = tomb_sets.join(", "),
        staging_sets = staging_sets.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_guard_shape() {
        let v = vec![
            (Ident::new("_hoodie_commit_time").unwrap(), PgType::Text),
            (Ident::new("_hps_seqno_key").unwrap(), PgType::Text),
            (Ident::new("ts").unwrap(), PgType::Int8),
        ];
        let g = version_gt("n", "o", &v);
        assert_eq!(
            g,
            "(COALESCE(n.\"_hoodie_commit_time\" COLLATE \"C\" > o.\"_hoodie_commit_time\" COLLATE \"C\", \
             n.\"_hoodie_commit_time\" IS NOT NULL AND o.\"_hoodie_commit_time\" IS NULL) OR \
             (n.\"_hoodie_commit_time\" IS NOT DISTINCT FROM o.\"_hoodie_commit_time\" AND \
             (COALESCE(n.\"_hps_seqno_key\" COLLATE \"C\" > o.\"_hps_seqno_key\" COLLATE \"C\", \
             n.\"_hps_seqno_key\" IS NOT NULL AND o.\"_hps_seqno_key\" IS NULL) OR \
             (n.\"_hps_seqno_key\" IS NOT DISTINCT FROM o.\"_hps_seqno_key\" AND \
             (COALESCE(n.\"ts\" > o.\"ts\", n.\"ts\" IS NOT NULL AND o.\"ts\" IS NULL))))))"
        );
        assert_eq!(version_gt("n", "o", &[]), "false");
    }

    #[test]
    fn copy_quotes_hostile_names() {
        let s = copy_statement(
            "\"hudi\".\"p\"",
            &["a\"b".to_string(), "; DROP TABLE x; --".to_string()],
        );
        assert_eq!(
            s,
            "COPY \"hudi\".\"p\" (\"a\"\"b\", \"; DROP TABLE x; --\") FROM STDIN (FORMAT binary)"
        );
    }
}
