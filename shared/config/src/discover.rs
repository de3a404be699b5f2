//! Table discovery under the `[discovery] prefixes`: which directories are Hudi tables, and
//! the stable id a discovered table gets.
//!
//! A directory under a prefix is a table when it holds `.hoodie/hoodie.properties`. The walk
//! does not descend into a table (a table nested in another table's directory is never
//! discovered, and the metadata table `.hoodie/metadata` is inside `.hoodie/`), nor into
//! hidden directories (`.spark-staging`, …, `.hoodie` included). A directory whose `.hoodie/`
//! has no `hoodie.properties` yet (a table being created) is not a table (yet). [`is_table_base`] answers the same question for
//! one path, so the detector and the loader accept exactly the tables the walk finds.
//!
//! Ids ([`derived_id`]) are built from the path under the prefix (readable) and a hash of the
//! whole location (unique), so the same location always gets the same id.

use std::path::PathBuf;

use hps_storage::{DynStore, ObjectStore, StorageError, StorageResult, join};
use sha2::{Digest, Sha256};

use crate::error::ConfigError;
use crate::resolve::{Location, MAX_TABLE_ID_LEN, PipelineConfig};

/// The file that makes a directory a Hudi table.
pub const HOODIE_PROPERTIES: &str = ".hoodie/hoodie.properties";

/// Deepest table below a prefix, in path segments (guards against walking a deep non-Hudi
/// tree forever).
pub const MAX_DEPTH: usize = 32;

/// Hex digits of the hash at the end of a derived id.
pub const HASH_LEN: usize = 10;

/// The readable part of a derived id: what is left of [`MAX_TABLE_ID_LEN`] after `-<hash>`.
const READABLE_LEN: usize = MAX_TABLE_ID_LEN - 1 - HASH_LEN;

/// Base paths (relative to the store's root, `""` for the root itself) of every Hudi table
/// under the store's root, sorted.
pub async fn find_tables(store: &dyn ObjectStore) -> StorageResult<Vec<String>> {
    let mut found = Vec::new();
    let mut pending = vec![(String::new(), 0usize)];
    while let Some((dir, depth)) = pending.pop() {
        let listing = store.list(&dir).await?;
        let hoodie = join(&dir, ".hoodie");
        if listing.directories.contains(&hoodie)
            && exists(store, &join(&dir, HOODIE_PROPERTIES)).await?
        {
            found.push(dir);
            continue;
        }
        if depth >= MAX_DEPTH {
            tracing::warn!(dir = %dir, root = %store.root_uri(), "discovery stops at depth {MAX_DEPTH}");
            continue;
        }
        for d in listing.directories {
            if !hidden(last_segment(&d)) {
                pending.push((d, depth + 1));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Whether `rel` (relative to the store's root) is a table [`find_tables`] would find: it
/// holds `.hoodie/hoodie.properties`, none of its directories from the root down is hidden
/// or a table itself, and it is at most [`MAX_DEPTH`] deep.
pub async fn is_table_base(store: &dyn ObjectStore, rel: &str) -> StorageResult<bool> {
    let rel = rel.trim_matches('/');
    let segments: Vec<&str> = if rel.is_empty() {
        Vec::new()
    } else {
        rel.split('/').collect()
    };
    if segments.len() > MAX_DEPTH || segments.iter().any(|s| s.is_empty() || hidden(s)) {
        return Ok(false);
    }
    if !exists(store, &join(rel, HOODIE_PROPERTIES)).await? {
        return Ok(false);
    }
    for n in 0..segments.len() {
        let ancestor = segments[..n].join("/");
        if exists(store, &join(&ancestor, HOODIE_PROPERTIES)).await? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The base path a key under the prefix belongs to, if the key is inside a `.hoodie/`
/// directory: everything before the first `.hoodie` segment (`db/t/.hoodie/x` → `db/t`).
pub fn base_of_key(rel_key: &str) -> Option<&str> {
    if rel_key.starts_with(".hoodie/") {
        return Some("");
    }
    rel_key.find("/.hoodie/").map(|i| &rel_key[..i])
}

fn hidden(segment: &str) -> bool {
    segment.starts_with('.')
}

fn last_segment(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

async fn exists(store: &dyn ObjectStore, path: &str) -> StorageResult<bool> {
    match store.head(path).await {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// The id of the table discovered at `rel` under `prefix`: the path under the prefix with
/// `/` as `.` and every character outside `A-Z a-z 0-9 _ . -` as `_` (its last
/// [`MAX_TABLE_ID_LEN`]` - 11` characters when longer; the prefix's last segment when the
/// prefix is the table), then `-` and [`HASH_LEN`] hex digits of the SHA-256 of the table's
/// location. At most [`MAX_TABLE_ID_LEN`] characters; the same location always gives the
/// same id, two locations (even with the same readable part) different ones.
pub fn derived_id(prefix: &Location, rel: &str) -> String {
    let location = prefix.join(rel);
    let hash = hex_prefix(&Sha256::digest(location.identity().as_bytes()), HASH_LEN);
    let rel = rel.trim_matches('/');
    let shown = if rel.is_empty() {
        prefix.last_segment()
    } else {
        rel.to_string()
    };
    let readable: String = shown
        .chars()
        .map(|c| match c {
            '/' => '.',
            c if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') => c,
            _ => '_',
        })
        .collect();
    // keep the end (the table's own name), cut on a char boundary (all ASCII now)
    let start = readable.len().saturating_sub(READABLE_LEN);
    let tail = readable[start..].trim_start_matches(['.', '-']);
    if tail.is_empty() {
        format!("t-{hash}")
    } else {
        format!("{tail}-{hash}")
    }
}

/// Whether `id` has the shape of a derived id (`…-<10 lowercase hex digits>`): such ids are
/// reserved for discovered tables when a configuration has prefixes.
pub fn looks_derived(id: &str) -> bool {
    id.len() > HASH_LEN + 1
        && id.as_bytes()[id.len() - HASH_LEN - 1] == b'-'
        && id[id.len() - HASH_LEN..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex_prefix(bytes: &[u8], n: usize) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push_str(&format!("{b:02x}"));
    }
    s.truncate(n);
    s
}

impl Location {
    /// The location `rel` (a relative `/`-separated path) below this one.
    pub fn join(&self, rel: &str) -> Location {
        let rel = rel.trim_matches('/');
        match self {
            Location::S3 { bucket, prefix } => Location::S3 {
                bucket: bucket.clone(),
                prefix: join(prefix, rel),
            },
            Location::Local(p) if rel.is_empty() => Location::Local(p.clone()),
            Location::Local(p) => Location::Local(p.join(rel)),
        }
    }

    /// `rel` such that `self.join(rel) == other`, if `other` is this location or below it.
    pub fn relative(&self, other: &Location) -> Option<String> {
        match (self, other) {
            (
                Location::S3 { bucket, prefix },
                Location::S3 {
                    bucket: b,
                    prefix: p,
                },
            ) if bucket == b => {
                if prefix.is_empty() {
                    Some(p.clone())
                } else if p == prefix {
                    Some(String::new())
                } else {
                    p.strip_prefix(prefix.as_str())?
                        .strip_prefix('/')
                        .map(String::from)
                }
            }
            (Location::Local(a), Location::Local(b)) => {
                let (a, b) = (
                    crate::resolve::lexical_absolute(a),
                    crate::resolve::lexical_absolute(b),
                );
                let rel = b.strip_prefix(&a).ok()?;
                let parts: Option<Vec<&str>> =
                    rel.components().map(|c| c.as_os_str().to_str()).collect();
                Some(parts?.join("/"))
            }
            _ => None,
        }
    }

    /// What the id hash is taken of: the S3 URI, or the absolute local path.
    fn identity(&self) -> String {
        match self {
            Location::S3 { .. } => self.uri(),
            Location::Local(p) => crate::resolve::lexical_absolute(p).display().to_string(),
        }
    }

    fn last_segment(&self) -> String {
        match self {
            Location::S3 { bucket, prefix } if prefix.is_empty() => bucket.clone(),
            Location::S3 { prefix, .. } => last_segment(prefix).to_string(),
            Location::Local(p) => crate::resolve::lexical_absolute(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| PathBuf::from("/").display().to_string()),
        }
    }
}

/// `config` with every table under its prefixes added: the file's entries first, then the
/// discovered tables ordered by location. `open` gives the store rooted at a prefix.
pub async fn expand<F>(config: &PipelineConfig, open: F) -> Result<PipelineConfig, ConfigError>
where
    F: Fn(&Location) -> Result<DynStore, StorageError>,
{
    let mut out = config.clone();
    let mut found = Vec::new();
    for prefix in &config.prefixes {
        let err = |e: StorageError| ConfigError::Discovery {
            origin: config.origin.clone(),
            prefix: prefix.uri(),
            transient: e.is_transient(),
            reason: e.to_string(),
        };
        let store = open(prefix).map_err(err)?;
        for rel in find_tables(store.as_ref()).await.map_err(err)? {
            let t = config.discovered_table(prefix, &rel);
            if t.discovered {
                found.push(t);
            }
        }
    }
    found.sort_by_key(|t| t.location.uri());
    for t in found {
        if let Some(other) = out.tables.iter().find(|o| o.id == t.id) {
            return Err(ConfigError::Conflict {
                origin: config.origin.clone(),
                first: other.id.clone(),
                second: t.location.uri(),
                reason: "the discovered table's derived id is taken".into(),
            });
        }
        out.tables.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::{parse_location, table_id};
    use hps_storage::LocalStore;

    fn s3(uri: &str) -> Location {
        parse_location(uri).unwrap()
    }

    #[test]
    fn ids_are_readable_stable_and_valid() {
        let p = s3("s3://lake/warehouse");
        let id = derived_id(&p, "db=sales/orders");
        assert!(id.starts_with("db_sales.orders-"), "{id}");
        assert_eq!(id.len(), "db_sales.orders-".len() + HASH_LEN);
        assert_eq!(id, derived_id(&p, "db=sales/orders/"), "same path, same id");
        assert_eq!(
            id,
            derived_id(&s3("s3://lake/warehouse/"), "db=sales/orders")
        );
        table_id(&id).unwrap();
        assert!(looks_derived(&id));
        // the readable parts collide (`=` and `_` both become `_`), the ids do not
        assert_ne!(id, derived_id(&p, "db_sales/orders"));
        // same relative path under two prefixes: different tables, different ids
        assert_ne!(
            id,
            derived_id(&s3("s3://lake2/warehouse"), "db=sales/orders")
        );
        // the prefix itself is the table
        let root = derived_id(&s3("s3://lake/warehouse/orders"), "");
        assert!(root.starts_with("orders-"), "{root}");
        assert!(derived_id(&s3("s3://lake"), "").starts_with("lake-"));
    }

    #[test]
    fn long_deep_and_odd_paths() {
        let p = s3("s3://lake/wh");
        let deep: String = (0..40).map(|i| format!("level{i}/")).collect::<String>() + "orders";
        let long = format!("{}/orders", "x".repeat(300));
        let odd = "Région=€u/ta ble+(1)/ü🙂";
        for rel in [deep.as_str(), long.as_str(), odd] {
            let id = derived_id(&p, rel);
            table_id(&id).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(id.len() <= MAX_TABLE_ID_LEN && id.len() <= 128, "{id}");
            assert_eq!(id, derived_id(&p, rel), "stable");
            assert!(looks_derived(&id), "{id}");
        }
        assert!(derived_id(&p, &deep).contains("level39.orders-"));
        assert!(derived_id(&p, &long).contains("xxx.orders-"));
        assert!(
            derived_id(&p, odd).starts_with("R_gion__u.ta_ble__1_.__-"),
            "{}",
            derived_id(&p, odd)
        );
        // two long paths that differ only before the part that is kept: same readable tail,
        // different ids
        let a = format!("a/{}/orders", "y".repeat(100));
        let b = format!("b/{}/orders", "y".repeat(100));
        let (ia, ib) = (derived_id(&p, &a), derived_id(&p, &b));
        assert_eq!(ia[..ia.len() - HASH_LEN], ib[..ib.len() - HASH_LEN]);
        assert_ne!(ia, ib);
        // a path of nothing but dots and dashes still gives a valid id
        let d = derived_id(&p, "..-./-");
        table_id(&d).unwrap();
    }

    #[test]
    fn derived_shape() {
        assert!(looks_derived("orders-0123456789"));
        assert!(!looks_derived("orders-012345678"));
        assert!(!looks_derived("orders-0123456789A"));
        assert!(!looks_derived("orders_0123456789"));
        assert!(!looks_derived("orders"));
    }

    #[test]
    fn keys_to_bases() {
        assert_eq!(base_of_key("db/t/.hoodie/1.commit"), Some("db/t"));
        assert_eq!(base_of_key(".hoodie/hoodie.properties"), Some(""));
        assert_eq!(
            base_of_key("t/.hoodie/metadata/.hoodie/1.deltacommit"),
            Some("t")
        );
        assert_eq!(base_of_key("db/t/part/file.parquet"), None);
        assert_eq!(base_of_key("db/t.hoodie/x"), None);
    }

    #[test]
    fn joins_and_relatives() {
        let p = s3("s3://lake/wh");
        assert_eq!(p.join("a/b").uri(), "s3://lake/wh/a/b");
        assert_eq!(p.join("").uri(), "s3://lake/wh");
        assert_eq!(p.relative(&s3("s3://lake/wh/a/b")).as_deref(), Some("a/b"));
        assert_eq!(p.relative(&s3("s3://lake/wh")).as_deref(), Some(""));
        assert_eq!(p.relative(&s3("s3://lake/wh2/a")), None);
        assert_eq!(p.relative(&s3("s3://other/wh/a")), None);
        assert_eq!(
            s3("s3://lake").relative(&s3("s3://lake/x")).as_deref(),
            Some("x")
        );
        let l = Location::Local("/data/wh".into());
        assert_eq!(
            l.relative(&Location::Local("/data/wh/a/b".into()))
                .as_deref(),
            Some("a/b")
        );
        assert_eq!(l.relative(&Location::Local("/data/other".into())), None);
    }

    fn touch(root: &std::path::Path, rel: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b"x").unwrap();
    }

    #[tokio::test]
    async fn finds_tables_but_not_nested_metadata_hidden_or_unfinished_ones() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        touch(r, "a/.hoodie/hoodie.properties");
        touch(r, "a/.hoodie/metadata/.hoodie/hoodie.properties");
        touch(r, "a/nested/.hoodie/hoodie.properties");
        touch(r, "db=sales/deep/er/b/.hoodie/hoodie.properties");
        touch(r, "db=sales/deep/er/b/part=1/f.parquet");
        touch(r, "creating/.hoodie/20260101000000000.commit.requested");
        touch(r, "creating/inner/.hoodie/hoodie.properties");
        touch(r, ".staging/c/.hoodie/hoodie.properties");
        touch(r, "plain/data.parquet");
        let store = LocalStore::new(r);
        let found = find_tables(&store).await.unwrap();
        assert_eq!(
            found,
            vec![
                "a".to_string(),
                "creating/inner".to_string(),
                "db=sales/deep/er/b".to_string()
            ]
        );
        for rel in &found {
            assert!(is_table_base(&store, rel).await.unwrap(), "{rel}");
        }
        for rel in [
            "a/nested",
            "a/.hoodie/metadata",
            "creating",
            ".staging/c",
            "plain",
            "nothing",
            "",
        ] {
            assert!(!is_table_base(&store, rel).await.unwrap(), "{rel}");
        }
        // the root itself a table: it is the only one
        let t = tempfile::tempdir().unwrap();
        touch(t.path(), ".hoodie/hoodie.properties");
        touch(t.path(), "x/.hoodie/hoodie.properties");
        let store = LocalStore::new(t.path());
        assert_eq!(find_tables(&store).await.unwrap(), vec![String::new()]);
        assert!(is_table_base(&store, "").await.unwrap());
        assert!(!is_table_base(&store, "x").await.unwrap());
    }
}
