//! PostgreSQL `numeric` binary format from a decimal integer and a scale.
//!
//! Wire format (src/backend/utils/adt/numeric.c, `numeric_send`): `int16 ndigits`,
//! `int16 weight` (power of 10000 of the first digit), `uint16 sign` (0x0000 positive,
//! 0x4000 negative), `uint16 dscale` (digits after the decimal point), then `ndigits` base-10000
//! digits as int16, most significant first, leading and trailing zero digits stripped.

use bytes::{BufMut, BytesMut};
use std::fmt::Write as _;

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;

/// A small reusable text buffer for rendering integers.
#[derive(Default)]
pub(crate) struct DigitBuf(String);

impl DigitBuf {
    /// Render `v` (any integer with `Display`) and split sign from digits.
    pub(crate) fn render<T: std::fmt::Display>(&mut self, v: T) -> (bool, &[u8]) {
        self.0.clear();
        // writing to a String cannot fail
        let _ = write!(self.0, "{v}");
        let b = self.0.as_bytes();
        match b.first() {
            Some(b'-') => (true, &b[1..]),
            Some(b'+') => (false, &b[1..]),
            _ => (false, b),
        }
    }
}

/// Append one COPY field (length + payload) holding `(-1)^neg × digits × 10^-scale`.
/// `digits` is ASCII decimal without sign; `scale` may be negative (trailing zeros).
pub(crate) fn put_numeric(out: &mut BytesMut, neg: bool, digits: &[u8], scale: i32) {
    // strip leading zeros
    let first = digits
        .iter()
        .position(|d| *d != b'0')
        .unwrap_or(digits.len());
    let digits = &digits[first..];
    let (scale, extra_zeros) = if scale < 0 {
        (0usize, scale.unsigned_abs() as usize)
    } else {
        (scale as usize, 0)
    };
    let dscale = scale as u16;
    if digits.is_empty() {
        out.put_i32(8);
        out.put_i16(0);
        out.put_i16(0);
        out.put_u16(NUMERIC_POS);
        out.put_u16(dscale);
        return;
    }
    // the full digit string is `digits` followed by `extra_zeros` zeros; the last `scale`
    // of them are fractional
    let total = digits.len() + extra_zeros;
    let digit_at = |i: isize| -> u16 {
        // i indexes the full digit string; out of range = 0 (padding)
        if i < 0 || i as usize >= total {
            0
        } else if (i as usize) < digits.len() {
            u16::from(digits[i as usize] - b'0')
        } else {
            0
        }
    };
    let int_len = total as isize - scale as isize; // may be <= 0
    // groups: integer part left-padded to a multiple of 4, fractional part right-padded
    let int_groups = if int_len > 0 { (int_len + 3) / 4 } else { 0 };
    let frac_groups = (scale as isize + 3) / 4;
    // position (in the full digit string) of the first digit of the first integer group
    let start = int_len - int_groups * 4;
    let ngroups = (int_groups + frac_groups) as usize;
    let mut groups: Vec<i16> = Vec::with_capacity(ngroups);
    for g in 0..ngroups as isize {
        let base = start + g * 4;
        let v = digit_at(base) * 1000
            + digit_at(base + 1) * 100
            + digit_at(base + 2) * 10
            + digit_at(base + 3);
        groups.push(v as i16);
    }
    let mut weight = int_groups as i32 - 1;
    let lead = groups.iter().position(|g| *g != 0).unwrap_or(groups.len());
    weight -= lead as i32;
    let trail = groups
        .iter()
        .rposition(|g| *g != 0)
        .map(|p| p + 1)
        .unwrap_or(lead);
    let groups = &groups[lead..trail.max(lead)];
    out.put_i32(8 + 2 * groups.len() as i32);
    out.put_i16(groups.len() as i16);
    out.put_i16(weight as i16);
    out.put_u16(if neg { NUMERIC_NEG } else { NUMERIC_POS });
    out.put_u16(dscale);
    for g in groups {
        out.put_i16(*g);
    }
}

/// Whether `digits × 10^-scale` (ASCII decimal digits without sign; `scale` may be negative)
/// fits PostgreSQL's `numeric(p, s)`: rounded to `s` fractional digits (half away from zero,
/// as PostgreSQL rounds), it must have at most `p - s` integer digits. PostgreSQL rejects
/// anything else with "numeric field overflow".
pub(crate) fn fits_numeric(digits: &[u8], scale: i32, p: u32, s: u32) -> bool {
    let first = digits
        .iter()
        .position(|d| *d != b'0')
        .unwrap_or(digits.len());
    let digits = &digits[first..];
    if digits.is_empty() {
        return true;
    }
    let len = digits.len() as i64;
    let (scale, s) = (i64::from(scale), i64::from(s));
    let int_digits = if scale <= s {
        len - scale
    } else {
        // drop `scale - s` fractional digits, rounding on the first dropped one
        let kept = len - (scale - s);
        let next = usize::try_from(kept)
            .ok()
            .and_then(|k| digits.get(k))
            .copied()
            .unwrap_or(b'0');
        let kept_digits = &digits[..kept.max(0) as usize];
        let carry = next >= b'5' && kept_digits.iter().all(|d| *d == b'9');
        kept.max(0) + i64::from(carry) - s
    };
    int_digits <= i64::from(p) - s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_fit_follows_postgres_rounding() {
        // numeric(5,2): |x| < 1000 after rounding to 2 places
        assert!(fits_numeric(b"99999", 2, 5, 2)); // 999.99
        assert!(!fits_numeric(b"100000", 2, 5, 2)); // 1000.00
        assert!(fits_numeric(b"999994", 3, 5, 2)); // 999.994 -> 999.99
        assert!(!fits_numeric(b"999995", 3, 5, 2)); // 999.995 -> 1000.00
        assert!(fits_numeric(b"0", 0, 1, 1));
        assert!(fits_numeric(b"000", 5, 1, 1));
        // 0.96 into numeric(1,1): rounds to 1.0, overflow
        assert!(!fits_numeric(b"96", 2, 1, 1));
        assert!(fits_numeric(b"94", 2, 1, 1));
        // tiny values round to zero
        assert!(fits_numeric(b"4", 9, 1, 1));
        assert!(fits_numeric(b"9", 2, 1, 1));
        // negative scale: trailing zeros are integer digits
        assert!(fits_numeric(b"12", -3, 5, 0)); // 12000
        assert!(!fits_numeric(b"123", -3, 5, 0)); // 123000
        // scale above s without rounding into a new digit
        assert!(fits_numeric(b"123456", 4, 4, 2)); // 12.3456 -> 12.35
        assert!(!fits_numeric(b"999956", 4, 4, 2)); // 99.9956 -> 100.00
    }

    /// Decode our own output back to a decimal string (the inverse of numeric_send).
    fn decode(b: &[u8]) -> String {
        let len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        assert_eq!(len, b.len() - 4);
        let nd = i16::from_be_bytes([b[4], b[5]]) as usize;
        let weight = i16::from_be_bytes([b[6], b[7]]) as i32;
        let sign = u16::from_be_bytes([b[8], b[9]]);
        let dscale = u16::from_be_bytes([b[10], b[11]]) as usize;
        let digits: Vec<i16> = (0..nd)
            .map(|i| i16::from_be_bytes([b[12 + 2 * i], b[13 + 2 * i]]))
            .collect();
        for d in &digits {
            assert!((0..10000).contains(d));
        }
        if nd > 0 {
            assert_ne!(digits[0], 0, "leading zero group");
            assert_ne!(digits[nd - 1], 0, "trailing zero group");
        }
        // integer part
        let mut int = String::new();
        for w in (0..=weight).rev() {
            let idx = (weight - w) as usize;
            let d = digits.get(idx).copied().unwrap_or(0);
            if int.is_empty() {
                int = d.to_string()
            } else {
                int.push_str(&format!("{d:04}"))
            }
        }
        if int.is_empty() {
            int = "0".into();
        }
        let mut frac = String::new();
        let mut k = 1;
        while frac.len() < dscale {
            let idx = weight + k;
            let d = if idx < 0 {
                0
            } else {
                digits.get(idx as usize).copied().unwrap_or(0)
            };
            frac.push_str(&format!("{d:04}"));
            k += 1;
        }
        frac.truncate(dscale);
        let mut s = if sign == NUMERIC_NEG {
            "-".to_string()
        } else {
            String::new()
        };
        s.push_str(&int);
        if dscale > 0 {
            s.push('.');
            s.push_str(&frac);
        }
        s
    }

    fn enc(v: i128, scale: i32) -> String {
        let mut out = BytesMut::new();
        let mut db = DigitBuf::default();
        let (neg, d) = db.render(v);
        put_numeric(&mut out, neg, d, scale);
        decode(&out)
    }

    #[test]
    fn round_trips() {
        assert_eq!(enc(0, 0), "0");
        assert_eq!(enc(0, 3), "0.000");
        assert_eq!(enc(1, 0), "1");
        assert_eq!(enc(-1, 0), "-1");
        assert_eq!(enc(12345, 2), "123.45");
        assert_eq!(enc(-12345, 2), "-123.45");
        assert_eq!(enc(5, 4), "0.0005");
        assert_eq!(enc(5, 5), "0.00005");
        assert_eq!(enc(10000, 0), "10000");
        assert_eq!(enc(100000000, 4), "10000.0000");
        assert_eq!(enc(123, -2), "12300");
        assert_eq!(enc(1, 38), "0.00000000000000000000000000000000000001");
        assert_eq!(enc(i128::MAX, 0), i128::MAX.to_string());
        assert_eq!(enc(i128::MIN, 0), i128::MIN.to_string());
        let max38 = 10i128.pow(38) - 1;
        assert_eq!(enc(max38, 10), "9999999999999999999999999999.9999999999");
        assert_eq!(enc(-max38, 38), format!("-0.{}", "9".repeat(38)));
    }

    #[test]
    fn exhaustive_small() {
        for scale in 0..9 {
            for v in (-20_000i128..20_000).step_by(7) {
                let expect = {
                    let neg = v < 0;
                    let a = v.unsigned_abs().to_string();
                    let a = format!("{a:0>width$}", width = scale as usize + 1);
                    let (i, f) = a.split_at(a.len() - scale as usize);
                    let mut s = if neg { "-".to_string() } else { String::new() };
                    s.push_str(i);
                    if scale > 0 {
                        s.push('.');
                        s.push_str(f);
                    }
                    s
                };
                assert_eq!(enc(v, scale), expect, "v={v} scale={scale}");
            }
        }
    }

    #[test]
    fn wire_bytes_of_known_value() {
        // 123.45 -> ndigits 2, weight 0, sign 0, dscale 2, digits [123, 4500]
        let mut out = BytesMut::new();
        put_numeric(&mut out, false, b"12345", 2);
        assert_eq!(
            &out[..],
            &[0, 0, 0, 12, 0, 2, 0, 0, 0, 0, 0, 2, 0, 123, 0x11, 0x94]
        );
    }
}
