//! A parser for Java `.properties` text (the format of `hoodie.properties`).
//!
//! Implements the parts of `java.util.Properties#load` that Hudi's files use: `#`/`!` comments,
//! `key=value`, `key:value` and `key value` separators, line continuations (odd number of
//! trailing backslashes), and the escapes `\t \n \r \f \uXXXX` plus `\<any>` = `<any>`
//! (so `\:` `\=` `\\`). A malformed `\u` escape is an error, as in Java. The last occurrence
//! of a key wins.

use std::collections::BTreeMap;

/// Why a properties text was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct PropertiesError {
    /// 1-based physical line where the offending logical line starts.
    pub line: usize,
    /// What is wrong.
    pub reason: String,
}

/// Parse Java properties text into an ordered map.
///
/// The input must be UTF-8 (Hudi writes UTF-8; ISO-8859-1 bytes above 0x7f would not be valid
/// here and are reported by the caller when decoding).
pub fn parse_properties(text: &str) -> Result<BTreeMap<String, String>, PropertiesError> {
    let mut out = BTreeMap::new();
    let mut lines = text.split('\n').enumerate().peekable();
    while let Some((idx, raw)) = lines.next() {
        let start_line = idx + 1;
        let first = strip_cr(raw).trim_start_matches([' ', '\t', '\x0c']);
        if first.is_empty() || first.starts_with('#') || first.starts_with('!') {
            continue;
        }
        // join continuation lines: an odd number of trailing backslashes continues the line
        let mut logical = String::from(first);
        while ends_with_odd_backslashes(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => {
                    logical.push_str(strip_cr(next).trim_start_matches([' ', '\t', '\x0c']))
                }
                None => break,
            }
        }
        let (key, value) = split_key_value(&logical);
        let key = unescape(key).map_err(|reason| PropertiesError {
            line: start_line,
            reason,
        })?;
        let value = unescape(value).map_err(|reason| PropertiesError {
            line: start_line,
            reason,
        })?;
        out.insert(key, value);
    }
    Ok(out)
}

fn strip_cr(s: &str) -> &str {
    s.strip_suffix('\r').unwrap_or(s)
}

fn ends_with_odd_backslashes(s: &str) -> bool {
    s.bytes().rev().take_while(|b| *b == b'\\').count() % 2 == 1
}

/// Split a logical line into raw (still escaped) key and value.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut key_end = bytes.len();
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key_end = key_end.min(bytes.len());
    let key = &line[..key_end];
    let mut rest = &line[key_end..];
    rest = rest.trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    (key, rest)
}

fn unescape(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            None => {} // a lone trailing backslash (end of file after a continuation) is dropped
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                if hex.len() != 4 {
                    return Err(format!("malformed \\uxxxx escape: \\u{hex}"));
                }
                let code = u32::from_str_radix(&hex, 16)
                    .map_err(|_| format!("malformed \\uxxxx escape: \\u{hex}"))?;
                // Java strings are UTF-16: a surrogate pair comes as two escapes
                if (0xD800..0xDC00).contains(&code) {
                    let rest = chars.as_str();
                    let low = rest
                        .strip_prefix("\\u")
                        .and_then(|r| r.get(..4))
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .filter(|l| (0xDC00..0xE000).contains(l));
                    match low {
                        Some(low) => {
                            let cp = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                            out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                            // consume the "\uXXXX" of the low surrogate
                            for _ in 0..6 {
                                chars.next();
                            }
                        }
                        None => out.push('\u{FFFD}'),
                    }
                } else {
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
            }
            Some(other) => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hudi_style_file() {
        let text = "#Updated at 2026-03-07T22:24:59.031420Z\n#Sat Mar 07 16:24:59 CST 2026\n\
                    hoodie.table.version=9\n\
                    hoodie.table.create.schema={\"type\"\\:\"record\"}\n\
                    hoodie.table.name=t1\r\n\
                    hoodie.table.metadata.partitions.inflight=\n";
        let p = parse_properties(text).unwrap();
        assert_eq!(p["hoodie.table.version"], "9");
        assert_eq!(p["hoodie.table.create.schema"], "{\"type\":\"record\"}");
        assert_eq!(p["hoodie.table.name"], "t1");
        assert_eq!(p["hoodie.table.metadata.partitions.inflight"], "");
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn separators_whitespace_and_continuations() {
        let text = "  a : 1\nb 2\nc=x\\\n   y\n! comment\nd\ne\\=f=g\nh=\\\\\ni=\\u0041\\u00e9\n";
        let p = parse_properties(text).unwrap();
        assert_eq!(p["a"], "1");
        assert_eq!(p["b"], "2");
        assert_eq!(p["c"], "xy");
        assert_eq!(p["d"], "");
        assert_eq!(p["e=f"], "g");
        assert_eq!(p["h"], "\\");
        assert_eq!(p["i"], "Aé");
    }

    #[test]
    fn surrogate_pairs_and_last_key_wins() {
        let p = parse_properties("k=\\ud83d\\ude00\nk2=1\nk2=2").unwrap();
        assert_eq!(p["k"], "😀");
        assert_eq!(p["k2"], "2");
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        assert!(parse_properties("").unwrap().is_empty());
        assert!(parse_properties("\n\n\r\n").unwrap().is_empty());
        let e = parse_properties("a=1\nb=\\u12").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(parse_properties("b=\\uZZZZ").is_err());
        // continuation at end of input, lone backslashes, unicode keys
        assert_eq!(parse_properties("a=b\\").unwrap()["a"], "b");
        assert_eq!(
            parse_properties("\\").unwrap().get(""),
            Some(&String::new())
        );
        assert_eq!(
            parse_properties("ключ=значение").unwrap()["ключ"],
            "значение"
        );
        // a lone high surrogate becomes U+FFFD rather than failing
        assert_eq!(parse_properties("k=\\ud83d").unwrap()["k"], "\u{FFFD}");
        // a very long line
        let long = format!("k={}", "x".repeat(1 << 20));
        assert_eq!(parse_properties(&long).unwrap()["k"].len(), 1 << 20);
    }
}
