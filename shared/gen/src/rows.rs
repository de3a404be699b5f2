//! Row values: a pure function of (seed, key, version).
//!
//! The generator never stores row contents. A row is fully determined by the seed, its key
//! index and the *version* (index of the commit that last wrote it), so a copy-on-write
//! rewrite regenerates untouched rows bit-for-bit, and tests can compute the expected row of
//! any key from the manifest alone ([`RowGen::row`]).

use crate::logical::LogicalValues;
use crate::rng::{SplitMix64, hash_words};
use crate::schema::DECIMAL_SCALE;

const SALT_STABLE: u64 = 0x5354_4142_4C45; // "STABLE"
const SALT_VERSION: u64 = 0x5645_5253; // "VERS"
const SALT_PARTITION: u64 = 0x5041_5254; // "PART"

const FIRST: [&str; 32] = [
    "Amelia",
    "Bruno",
    "Chiara",
    "Dmitri",
    "Elena",
    "Farid",
    "Greta",
    "Hiroshi",
    "Ingrid",
    "Jamal",
    "Katarina",
    "Lorenzo",
    "Mariana",
    "Nikolai",
    "Olivia",
    "Pedro",
    "Quentin",
    "Rosalind",
    "Sakura",
    "Tobias",
    "Ulrike",
    "Valentin",
    "Wilhelmina",
    "Xavier",
    "Yasmin",
    "Zoltan",
    "Beatrix",
    "Cornelius",
    "Delphine",
    "Evander",
    "Florentina",
    "Gideon",
];
const LAST: [&str; 32] = [
    "Abernathy",
    "Bergstrom",
    "Castellano",
    "Dubois",
    "Eriksen",
    "Fitzgerald",
    "Gonzalez",
    "Hakimi",
    "Ivanova",
    "Jankowski",
    "Kowalczyk",
    "Lindqvist",
    "Montgomery",
    "Nakamura",
    "Okonkwo",
    "Petrovic",
    "Quintero",
    "Rasmussen",
    "Schneider",
    "Takahashi",
    "Underwood",
    "Vasquez",
    "Whitfield",
    "Xiong",
    "Yamamoto",
    "Zimmermann",
    "Achterberg",
    "Baumgartner",
    "Costa",
    "Delacroix",
    "Esposito",
    "Fairweather",
];
const WORDS: [&str; 32] = [
    "express",
    "delivery",
    "standard",
    "fragile",
    "priority",
    "return",
    "gift",
    "wrapped",
    "bulk",
    "order",
    "customer",
    "requested",
    "weekend",
    "morning",
    "evening",
    "warehouse",
    "north",
    "south",
    "backorder",
    "partial",
    "shipment",
    "refund",
    "pending",
    "review",
    "loyalty",
    "discount",
    "coupon",
    "applied",
    "signature",
    "required",
    "leave",
    "porch",
];
const DOMAINS: [&str; 8] = [
    "example.com",
    "mail.example.org",
    "corp.example.net",
    "shop.example.io",
    "post.example.de",
    "example.co.uk",
    "inbox.example.fr",
    "example.com.br",
];
const STATUS: [i32; 6] = [100, 200, 201, 300, 404, 500];

/// Names of the partitions (values of `region`).
pub fn partition_values(n: u32) -> Vec<String> {
    const NAMED: [&str; 12] = [
        "us-east",
        "eu-west",
        "ap-south",
        "sa-east",
        "us-west",
        "eu-central",
        "ap-northeast",
        "af-south",
        "me-central",
        "ca-central",
        "ap-southeast",
        "eu-north",
    ];
    (0..n)
        .map(|i| match NAMED.get(i as usize) {
            Some(name) if n as usize <= NAMED.len() => (*name).to_string(),
            _ => format!("region-{i:04}"),
        })
        .collect()
}

/// One generated row (data columns only; meta columns are added by the writers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Row {
    /// `id` (record key).
    pub id: i64,
    /// `ts` (ordering field): epoch milliseconds of the writing commit's requested time.
    pub ts: i64,
    /// Index into the partition values (`region`).
    pub partition: u32,
    /// `customer_id`.
    pub customer_id: i32,
    /// `quantity`.
    pub quantity: i32,
    /// `status_code` (nullable).
    pub status_code: Option<i32>,
    /// `price`.
    pub price: f64,
    /// `discount` (nullable).
    pub discount: Option<f64>,
    /// `amount`, unscaled decimal(18,4).
    pub amount: i64,
    /// `tax`, unscaled decimal(18,4) (nullable).
    pub tax: Option<i64>,
    /// `customer_name` (~30 chars).
    pub customer_name: String,
    /// `email` (~30 chars).
    pub email: String,
    /// `description` (~30 chars, nullable).
    pub description: Option<String>,
    /// `created_at`, epoch microseconds.
    pub created_at: i64,
    /// `updated_at`, epoch microseconds.
    pub updated_at: i64,
    /// `is_active`.
    pub is_active: bool,
    /// `is_priority` (nullable).
    pub is_priority: Option<bool>,
    /// `order_date`, days since epoch.
    pub order_date: i32,
    /// `ship_date`, days since epoch (nullable).
    pub ship_date: Option<i32>,
    /// `revision`: index of the commit that wrote this version of the row.
    pub revision: i32,
    /// The logical-type columns, when the table has them.
    pub logical: Option<LogicalValues>,
}

/// Row value generator for one table.
#[derive(Debug, Clone)]
pub struct RowGen {
    seed: u64,
    partitions: u32,
    /// Requested time of each commit, epoch milliseconds (index = version).
    version_epoch_ms: Vec<i64>,
    /// Epoch microseconds of the first commit (anchor of `created_at`).
    start_us: i64,
    /// Whether rows carry the logical-type columns.
    logical_types: bool,
    /// [`crate::GenConfig::bad_values_every`].
    bad_values_every: Option<u32>,
}

/// Which value PostgreSQL cannot hold a row version carries
/// ([`crate::GenConfig::bad_values_every`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadValue {
    /// `description` contains a NUL character.
    Nul,
    /// `amount` is `i64::MAX` unscaled: 19 digits, beyond decimal(18,4).
    WideDecimal,
    /// `created_at` is `i64::MIN` microseconds (about 290 000 BC).
    AncientTimestamp,
    /// `order_date` is `i32::MAX` days (beyond 5874897 AD); `ship_date` is null.
    FarDate,
}

/// The bad value of `key` at `version` with one row version in about `every` bad: those
/// with `(key + version) % every == 0`, the kind cycling with `(key + version) / every`.
pub fn bad_value(every: Option<u32>, key: u32, version: u16) -> Option<BadValue> {
    let every = u64::from(every?.max(1));
    let n = u64::from(key) + u64::from(version);
    (n % every == 0).then(|| match (n / every) % 4 {
        0 => BadValue::Nul,
        1 => BadValue::WideDecimal,
        2 => BadValue::AncientTimestamp,
        _ => BadValue::FarDate,
    })
}

impl RowGen {
    /// A generator for `partitions` partitions whose commit `v` was requested at
    /// `version_epoch_ms[v]`.
    pub fn new(seed: u64, partitions: u32, version_epoch_ms: Vec<i64>) -> Self {
        let start_us = version_epoch_ms
            .first()
            .copied()
            .unwrap_or(0)
            .saturating_mul(1000);
        Self {
            seed,
            partitions: partitions.max(1),
            version_epoch_ms,
            start_us,
            logical_types: false,
            bad_values_every: None,
        }
    }

    /// The same generator, writing values PostgreSQL cannot hold into some row versions
    /// ([`crate::GenConfig::bad_values_every`]).
    pub fn with_bad_values(mut self, every: Option<u32>) -> Self {
        self.bad_values_every = every;
        self
    }

    /// The same generator, with or without the logical-type columns
    /// ([`crate::GenConfig::logical_types`]); the other columns' values do not change.
    pub fn with_logical_types(mut self, on: bool) -> Self {
        self.logical_types = on;
        self
    }

    /// The record key (`id`) of key index `key`.
    #[inline]
    pub fn id_of(key: u32) -> i64 {
        i64::from(key) + 1
    }

    /// The key index of record key `id` (inverse of [`RowGen::id_of`]).
    pub fn key_of(id: i64) -> Option<u32> {
        u32::try_from(id.checked_sub(1)?).ok()
    }

    /// Partition index of a key; fixed for the key's lifetime.
    #[inline]
    pub fn partition_of(&self, key: u32) -> u32 {
        (hash_words(&[self.seed, SALT_PARTITION, u64::from(key)]) % u64::from(self.partitions))
            as u32
    }

    /// `customer_id` of `key` (fixed for the key's life; the complex key generator's second
    /// record key field).
    pub fn customer_id_of(&self, key: u32) -> i32 {
        let mut stable = SplitMix64::new(hash_words(&[self.seed, SALT_STABLE, u64::from(key)]));
        Self::first_customer_draw(&mut stable)
    }

    fn first_customer_draw(stable: &mut SplitMix64) -> i32 {
        stable.below(5_000_000) as i32
    }

    /// The ordering value (`ts`) of every row written by commit `version`.
    pub fn ts_of(&self, version: u16) -> i64 {
        self.version_epoch_ms
            .get(usize::from(version))
            .copied()
            .unwrap_or(0)
    }

    /// The row of `key` as written by commit `version`.
    pub fn row(&self, key: u32, version: u16) -> Row {
        let mut r = Row::default();
        self.fill(key, version, &mut r);
        r
    }

    /// Fill `out` (reusing its string buffers) with the row of `key` at `version`.
    pub fn fill(&self, key: u32, version: u16, out: &mut Row) {
        // Attributes fixed at insert time come from `stable`, mutable ones from `var`.
        let mut stable = SplitMix64::new(hash_words(&[self.seed, SALT_STABLE, u64::from(key)]));
        let mut var = SplitMix64::new(hash_words(&[
            self.seed,
            SALT_VERSION,
            u64::from(key),
            u64::from(version),
        ]));
        let epoch_ms = self.ts_of(version);

        out.id = Self::id_of(key);
        out.ts = epoch_ms;
        out.partition = self.partition_of(key);
        out.customer_id = Self::first_customer_draw(&mut stable);
        out.revision = i32::from(version);

        let first = FIRST[stable.below(FIRST.len() as u64) as usize];
        let last = LAST[stable.below(LAST.len() as u64) as usize];
        out.customer_name.clear();
        out.customer_name.push_str(first);
        out.customer_name.push(' ');
        out.customer_name.push_str(last);
        while out.customer_name.len() < 26 {
            out.customer_name.push('-');
            out.customer_name
                .push_str(LAST[stable.below(LAST.len() as u64) as usize]);
        }
        out.email.clear();
        for c in first
            .chars()
            .chain(std::iter::once('.'))
            .chain(last.chars())
        {
            out.email.push(c.to_ascii_lowercase());
        }
        {
            use std::fmt::Write;
            // writing into a String cannot fail
            let _ = write!(out.email, "{}", out.customer_id % 1000);
        }
        out.email.push('@');
        out.email
            .push_str(DOMAINS[stable.below(DOMAINS.len() as u64) as usize]);

        // created_at: up to ~3 years before the first commit; order_date near it.
        let age_us = stable.below(3 * 365 * 86_400 * 1_000_000) as i64;
        out.created_at = self.start_us - age_us;
        out.order_date = out.created_at.div_euclid(86_400 * 1_000_000) as i32;

        out.quantity = 1 + var.below(250) as i32;
        out.status_code =
            (!var.one_in(20)).then(|| STATUS[var.below(STATUS.len() as u64) as usize]);
        out.price = var.below(10_000_000) as f64 / 100.0;
        out.discount = (!var.one_in(10)).then(|| var.below(5_000) as f64 / 10_000.0);
        // |amount| < 10^13 (unscaled), well inside decimal(18,4)
        out.amount = var.below(20_000_000_000_000) as i64 - 10_000_000_000_000;
        out.tax = (!var.one_in(20)).then(|| var.below(100_000_000_000) as i64);
        match var.one_in(10) {
            true => out.description = None,
            false => {
                let d = out.description.get_or_insert_with(String::new);
                d.clear();
                while d.len() < 26 {
                    if !d.is_empty() {
                        d.push(' ');
                    }
                    d.push_str(WORDS[var.below(WORDS.len() as u64) as usize]);
                }
            }
        }
        out.updated_at = epoch_ms.saturating_mul(1000) + var.below(1_000) as i64;
        out.is_active = var.below(4) != 0;
        out.is_priority = (!var.one_in(5)).then(|| var.one_in(3));
        out.ship_date = (!var.one_in(7)).then(|| out.order_date + var.below(30) as i32);
        out.logical = self
            .logical_types
            .then(|| LogicalValues::generate(self.seed, key, version, epoch_ms));
        match bad_value(self.bad_values_every, key, version) {
            None => {}
            Some(BadValue::Nul) => out.description = Some("bad\0value".into()),
            Some(BadValue::WideDecimal) => out.amount = i64::MAX,
            Some(BadValue::AncientTimestamp) => out.created_at = i64::MIN,
            Some(BadValue::FarDate) => {
                out.order_date = i32::MAX;
                out.ship_date = None;
            }
        }
    }
}

/// Format an unscaled decimal(18,4) like Java's `BigDecimal.toPlainString` (`-12.3400`).
pub fn format_decimal(unscaled: i64) -> String {
    let scale = DECIMAL_SCALE as u32;
    let p = 10u64.pow(scale);
    let sign = if unscaled < 0 { "-" } else { "" };
    let a = unscaled.unsigned_abs();
    format!("{sign}{}.{:0width$}", a / p, a % p, width = scale as usize)
}

impl Row {
    /// The row as JSON for the manifest and oracle checks: decimals as plain strings with
    /// scale 4, timestamps as epoch microseconds, dates as days since epoch.
    pub fn to_json(&self, partition_values: &[String]) -> serde_json::Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "ts": self.ts,
            "region": partition_values.get(self.partition as usize),
            "customer_id": self.customer_id,
            "quantity": self.quantity,
            "status_code": self.status_code,
            "price": self.price,
            "discount": self.discount,
            "amount": format_decimal(self.amount),
            "tax": self.tax.map(format_decimal),
            "customer_name": self.customer_name,
            "email": self.email,
            "description": self.description,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "is_active": self.is_active,
            "is_priority": self.is_priority,
            "order_date": self.order_date,
            "ship_date": self.ship_date,
            "revision": self.revision,
        });
        if let (Some(l), Some(obj)) = (&self.logical, v.as_object_mut()) {
            for (k, x) in l.json_entries() {
                obj.insert(k.to_string(), x);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rg() -> RowGen {
        RowGen::new(
            42,
            4,
            vec![1_735_689_600_000, 1_735_689_660_000, 1_735_689_720_000],
        )
    }

    #[test]
    fn rows_are_deterministic_and_versioned() {
        let g = rg();
        assert_eq!(g.row(7, 0), g.row(7, 0));
        let (a, b) = (g.row(7, 0), g.row(7, 1));
        assert_ne!(a, b);
        // insert-time attributes survive an update
        assert_eq!(a.customer_name, b.customer_name);
        assert_eq!(a.created_at, b.created_at);
        assert_eq!(a.partition, b.partition);
        assert!(b.ts > a.ts);
        assert_eq!(b.revision, 1);
    }

    #[test]
    fn value_shapes() {
        let g = rg();
        let mut nulls = 0;
        for k in 0..2000u32 {
            let r = g.row(k, 2);
            assert_eq!(r.id, i64::from(k) + 1);
            assert!(r.partition < 4);
            assert!(
                (20..=45).contains(&r.customer_name.len()),
                "{}",
                r.customer_name
            );
            assert!(r.email.contains('@'));
            assert!(r.amount.unsigned_abs() < 10u64.pow(14));
            nulls += usize::from(r.description.is_none());
        }
        assert!((100..400).contains(&nulls), "{nulls}");
    }

    #[test]
    fn partition_spread_and_ids() {
        let g = rg();
        let mut counts = [0; 4];
        for k in 0..4000 {
            counts[g.partition_of(k) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 850), "{counts:?}");
        assert_eq!(RowGen::key_of(RowGen::id_of(5)), Some(5));
        assert_eq!(RowGen::key_of(0), None);
    }

    #[test]
    fn decimal_formatting() {
        assert_eq!(format_decimal(12_3400), "12.3400");
        assert_eq!(format_decimal(-5), "-0.0005");
        assert_eq!(format_decimal(0), "0.0000");
    }

    #[test]
    fn partition_names() {
        assert_eq!(partition_values(2), vec!["us-east", "eu-west"]);
        assert_eq!(partition_values(20)[3], "region-0003");
    }
}
