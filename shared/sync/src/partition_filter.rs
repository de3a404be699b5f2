//! A table's row filter on one partition column (`region in ('eu-west', 'eu-north')`),
//! applied as partition pruning: the file slices (and replaced file groups) of other
//! partitions are dropped from every plan before anything is read, so their files are never
//! fetched and their rows never reach staging. One Hudi table can so feed several databases.

/// Rows whose partition column `column` holds one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionFilter {
    /// A partition field of the table (`hoodie.table.partition.fields`).
    pub column: String,
    /// The accepted values, as they appear in partition paths.
    pub values: Vec<String>,
}

impl PartitionFilter {
    /// Parse `column in ('a', 'b')` or `column = 'a'` (values single-quoted, `''` for a quote).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad =
            |why: &str| format!("{text:?}: {why} (expected column in ('a', 'b') or column = 'a')");
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .ok_or_else(|| bad("no operator"))?;
        let (column, rest) = t.split_at(split);
        if column.is_empty() || column.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(bad("the column is not a plain name"));
        }
        let rest = rest.trim_start();
        let list = if let Some(r) = rest.strip_prefix('=') {
            r.trim()
        } else if rest.len() >= 2 && rest[..2].eq_ignore_ascii_case("in") {
            let r = rest[2..].trim();
            r.strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| bad("the list is not in parentheses"))?
        } else {
            return Err(bad("unknown operator"));
        };
        let values = quoted_list(list).map_err(|w| bad(&w))?;
        if values.is_empty() {
            return Err(bad("no values"));
        }
        Ok(PartitionFilter {
            column: column.to_string(),
            values,
        })
    }

    /// Whether a partition path (`eu-west`, `region=eu-west`, `2024/eu-west`, …) of a table
    /// with these partition fields passes. `None`: the column is not a partition field.
    pub fn matches(&self, partition_path: &str, partition_fields: &[String]) -> Option<bool> {
        let pos = partition_fields.iter().position(|f| *f == self.column)?;
        let segment = partition_path.split('/').nth(pos).unwrap_or("");
        let value = match segment.split_once('=') {
            Some((field, v)) if field == self.column => v,
            _ => segment,
        };
        Some(self.values.iter().any(|v| v == value))
    }
}

/// `'a', 'b'` → `["a", "b"]`.
fn quoted_list(list: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = list.trim().chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('\'') {
            return Err("values must be single-quoted".into());
        }
        let mut v = String::new();
        loop {
            match chars.next() {
                Some('\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                    v.push('\'');
                }
                Some('\'') => break,
                Some(c) => v.push(c),
                None => return Err("unterminated value".into()),
            }
        }
        out.push(v);
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        match chars.next() {
            None => return Ok(out),
            Some(',') => {}
            Some(_) => return Err("values are separated by commas".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let f = PartitionFilter::parse("region in ('eu-west', 'it''s')").unwrap();
        assert_eq!(f.column, "region");
        assert_eq!(f.values, vec!["eu-west", "it's"]);
        let fields = vec!["year".to_string(), "region".to_string()];
        assert_eq!(f.matches("2024/eu-west", &fields), Some(true));
        assert_eq!(f.matches("year=2024/region=eu-west", &fields), Some(true));
        assert_eq!(f.matches("2024/us-east", &fields), Some(false));
        assert_eq!(f.matches("eu-west", &["other".to_string()]), None);
        let g = PartitionFilter::parse("region = 'us-east'").unwrap();
        assert_eq!(g.values, vec!["us-east"]);
        assert_eq!(
            g.matches("region=us-east", &["region".to_string()]),
            Some(true)
        );
        for bad in [
            "",
            "region",
            "region in 'a'",
            "region in ()",
            "region like 'a'",
            "region = a",
            "region in ('a' 'b')",
            "region in ('a",
            "1x = 'a'",
        ] {
            assert!(PartitionFilter::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
