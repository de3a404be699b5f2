//! PostgreSQL identifiers: always quoted, length-checked, never spliced unquoted.
//!
//! PostgreSQL silently truncates identifiers to 63 bytes (NAMEDATALEN - 1), which would make
//! two long lake column names collide. Configured names (schema, tables) longer than that are
//! rejected; column names from the lake are shortened deterministically to
//! `<first bytes>_<16 hex digits of FNV-1a 64 of the full name>` so that long names stay
//! distinct and stable across loads.

use std::fmt;

use crate::error::PgError;

/// Longest identifier PostgreSQL keeps (bytes).
pub const MAX_IDENT_BYTES: usize = 63;

/// Longest default base name derived from a Hudi table name, leaving room for the
/// `__landing` / `__tombstones` suffixes.
pub const MAX_BASE_NAME_BYTES: usize = 40;

/// A validated identifier. `Display` renders it quoted (`"a""b"`), ready for SQL text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ident(String);

impl Ident {
    /// A configured name: non-empty, no NUL, at most 63 bytes; otherwise an error.
    pub fn new(name: &str) -> Result<Self, PgError> {
        check_basic(name)?;
        if name.len() > MAX_IDENT_BYTES {
            return Err(PgError::InvalidIdentifier {
                name: name.to_string(),
                reason: format!(
                    "{} bytes, PostgreSQL keeps at most {MAX_IDENT_BYTES}",
                    name.len()
                ),
            });
        }
        Ok(Ident(name.to_string()))
    }

    /// A column name from the lake: like [`Ident::new`], but names over 63 bytes are
    /// shortened deterministically instead of rejected.
    pub fn for_column(name: &str) -> Result<Self, PgError> {
        check_basic(name)?;
        if name.len() <= MAX_IDENT_BYTES {
            return Ok(Ident(name.to_string()));
        }
        let suffix = format!("_{:016x}", fnv1a64(name.as_bytes()));
        Ok(Ident(fit(name, &suffix)))
    }

    /// The raw (unquoted) name, as PostgreSQL stores it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The quoted form.
    pub fn quoted(&self) -> String {
        quote_ident(&self.0)
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote_ident(&self.0))
    }
}

fn check_basic(name: &str) -> Result<(), PgError> {
    if name.is_empty() {
        return Err(PgError::InvalidIdentifier {
            name: String::new(),
            reason: "empty".into(),
        });
    }
    if name.contains('\0') {
        return Err(PgError::InvalidIdentifier {
            name: name.replace('\0', "\\0"),
            reason: "contains a NUL byte".into(),
        });
    }
    Ok(())
}

/// Quote an identifier: wrap in double quotes, double any embedded double quote.
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for ch in name.chars() {
        if ch == '"' {
            s.push('"');
        }
        s.push(ch);
    }
    s.push('"');
    s
}

/// `"schema"."name"`.
pub fn qualified(schema: &Ident, name: &Ident) -> String {
    format!("{schema}.{name}")
}

/// FNV-1a, 64 bit: a stable hash for name shortening and advisory-lock keys.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// `prefix` truncated (on a char boundary) so that `prefix + suffix` fits in 63 bytes.
pub(crate) fn fit(prefix: &str, suffix: &str) -> String {
    let budget = MAX_IDENT_BYTES.saturating_sub(suffix.len());
    let mut end = prefix.len().min(budget);
    while end > 0 && !prefix.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{}", &prefix[..end], suffix)
}

/// Default PostgreSQL base name for a Hudi table name: lower case ASCII letters, digits and
/// `_` (anything else becomes `_`), not starting with a digit, at most 40 bytes (longer
/// names keep 31 bytes and get `_` + 8 hex digits of a hash).
pub fn sanitize_table_name(hudi_name: &str) -> String {
    let mut s: String = hudi_name
        .chars()
        .map(|c| {
            let c = c.to_ascii_lowercase();
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        s.push_str("table");
    }
    if s.as_bytes()[0].is_ascii_digit() {
        s.insert_str(0, "t_");
    }
    if s.len() > MAX_BASE_NAME_BYTES {
        let h = fnv1a64(hudi_name.as_bytes()) as u32;
        s.truncate(MAX_BASE_NAME_BYTES - 9);
        s.push_str(&format!("_{h:08x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_ident("a"), "\"a\"");
        assert_eq!(
            quote_ident("\"; DROP TABLE x; --"),
            "\"\"\"; DROP TABLE x; --\""
        );
        assert_eq!(quote_ident("MixedCase"), "\"MixedCase\"");
        assert_eq!(Ident::new("select").unwrap().to_string(), "\"select\"");
    }

    #[test]
    fn configured_names_are_length_checked() {
        let ok = "a".repeat(63);
        assert!(Ident::new(&ok).is_ok());
        let long = "a".repeat(64);
        let e = Ident::new(&long).unwrap_err();
        assert!(e.to_string().contains("64 bytes"), "{e}");
        assert!(Ident::new("").is_err());
        assert!(Ident::new("a\0b").is_err());
        // multi-byte: 32 × 2 bytes = 64 bytes
        assert!(Ident::new(&"é".repeat(32)).is_err());
    }

    #[test]
    fn long_columns_are_shortened_stably_and_distinctly() {
        let a = format!("{}_alpha", "x".repeat(70));
        let b = format!("{}_beta", "x".repeat(70));
        let ia = Ident::for_column(&a).unwrap();
        let ib = Ident::for_column(&b).unwrap();
        assert!(ia.as_str().len() <= 63 && ib.as_str().len() <= 63);
        assert_ne!(ia, ib);
        assert_eq!(ia, Ident::for_column(&a).unwrap());
        // exactly 63 stays as is
        let c = "y".repeat(63);
        assert_eq!(Ident::for_column(&c).unwrap().as_str(), c);
        // char boundaries respected
        let d = "ü".repeat(40);
        let id = Ident::for_column(&d).unwrap();
        assert!(id.as_str().len() <= 63);
        assert!(id.as_str().starts_with('ü'));
    }

    #[test]
    fn sanitize() {
        assert_eq!(sanitize_table_name("trips_cow"), "trips_cow");
        assert_eq!(sanitize_table_name("My-Table.v2"), "my_table_v2");
        assert_eq!(sanitize_table_name("2024 sales"), "t_2024_sales");
        assert_eq!(sanitize_table_name(""), "table");
        let long = sanitize_table_name(&"n".repeat(100));
        assert_eq!(long.len(), MAX_BASE_NAME_BYTES);
        assert_ne!(long, sanitize_table_name(&"n".repeat(101)));
    }

    #[test]
    fn fnv_known_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }
}
