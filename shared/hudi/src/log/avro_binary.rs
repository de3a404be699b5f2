//! A bounds-checked reader of Avro's binary datum encoding (zig-zag varints, length-prefixed
//! bytes/strings, block-encoded arrays and maps). Every length is checked against the bytes
//! that remain before anything is allocated.

use std::fmt;

/// Why a datum could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AvroReadError(pub(crate) String);

impl fmt::Display for AvroReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) type AvroRead<T> = Result<T, AvroReadError>;

fn err<T>(msg: impl Into<String>) -> AvroRead<T> {
    Err(AvroReadError(msg.into()))
}

/// A cursor over one datum.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cursor { data, pos: 0 }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// A zig-zag varint `long`.
    pub(crate) fn read_long(&mut self) -> AvroRead<i64> {
        let mut value: u64 = 0;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.data.get(self.pos) else {
                return err("varint cut off by the end of the datum");
            };
            self.pos += 1;
            if shift == 63 && b > 1 {
                return err("varint overflows 64 bits");
            }
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return err("varint longer than 10 bytes");
            }
        }
        Ok(((value >> 1) as i64) ^ -((value & 1) as i64))
    }

    /// A zig-zag varint `int`.
    pub(crate) fn read_int(&mut self) -> AvroRead<i32> {
        let v = self.read_long()?;
        i32::try_from(v).map_err(|_| AvroReadError(format!("int value {v} out of range")))
    }

    pub(crate) fn read_boolean(&mut self) -> AvroRead<bool> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            b => err(format!("invalid boolean byte {b}")),
        }
    }

    pub(crate) fn read_float(&mut self) -> AvroRead<f32> {
        let b = self.take(4)?;
        Ok(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn read_double(&mut self) -> AvroRead<f64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }

    /// Exactly `n` raw bytes.
    pub(crate) fn take(&mut self, n: usize) -> AvroRead<&'a [u8]> {
        if n > self.remaining() {
            return err(format!(
                "needs {n} bytes but only {} remain in the datum",
                self.remaining()
            ));
        }
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Length-prefixed `bytes`.
    pub(crate) fn read_bytes(&mut self) -> AvroRead<&'a [u8]> {
        let len = self.read_long()?;
        let n =
            usize::try_from(len).map_err(|_| AvroReadError(format!("negative length {len}")))?;
        self.take(n)
    }

    /// Length-prefixed UTF-8 `string`.
    pub(crate) fn read_str(&mut self) -> AvroRead<&'a str> {
        let b = self.read_bytes()?;
        std::str::from_utf8(b).map_err(|e| AvroReadError(format!("string is not UTF-8: {e}")))
    }

    /// A union branch index, checked against the number of branches.
    pub(crate) fn read_union_index(&mut self, branches: usize) -> AvroRead<usize> {
        let i = self.read_long()?;
        match usize::try_from(i) {
            Ok(i) if i < branches => Ok(i),
            _ => err(format!(
                "union branch {i} out of range (the union has {branches} branches)"
            )),
        }
    }

    /// The item count of the next array/map block (0 = end). A negative count is followed by
    /// the block's byte size, which is skipped. Each item needs at least `min_item_bytes`
    /// bytes, so the count is bounded by the bytes that remain; items of a zero-byte type
    /// (`null`, an empty record) are capped at [`MAX_ZERO_BYTE_ITEMS`] per block instead, so a
    /// tiny datum cannot claim billions of items.
    pub(crate) fn read_block_count(&mut self, min_item_bytes: usize) -> AvroRead<usize> {
        let raw = self.read_long()?;
        let count = if raw < 0 {
            let _size = self.read_long()?;
            raw.checked_neg()
                .ok_or_else(|| AvroReadError("block count overflows".into()))?
        } else {
            raw
        };
        let count = usize::try_from(count)
            .map_err(|_| AvroReadError(format!("invalid block count {raw}")))?;
        let bound = match min_item_bytes {
            0 => MAX_ZERO_BYTE_ITEMS,
            n => self.remaining() / n,
        };
        if count > bound {
            return err(format!(
                "block claims {count} items but only {} bytes remain in the datum",
                self.remaining()
            ));
        }
        Ok(count)
    }
}

/// Per-block cap on the item count of arrays/maps whose items take no bytes.
pub(crate) const MAX_ZERO_BYTE_ITEMS: usize = 1 << 20;

#[cfg(test)]
mod tests {
    use super::*;

    fn zz(v: i64) -> Vec<u8> {
        let mut n = ((v << 1) ^ (v >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        }
        out
    }

    #[test]
    fn varints_roundtrip_and_reject_garbage() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            300,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ] {
            let b = zz(v);
            let mut c = Cursor::new(&b);
            assert_eq!(c.read_long().unwrap(), v);
            assert!(c.is_empty());
        }
        // 11 continuation bytes
        let mut c = Cursor::new(&[0xff; 11]);
        assert!(c.read_long().is_err());
        // cut off
        let mut c = Cursor::new(&[0x80]);
        assert!(c.read_long().is_err());
        // int out of range
        let b = zz(i64::from(i32::MAX) + 1);
        assert!(Cursor::new(&b).read_int().is_err());
    }

    #[test]
    fn lengths_are_bounded_by_the_datum() {
        let mut b = zz(1_000_000_000);
        b.extend_from_slice(b"abc");
        assert!(Cursor::new(&b).read_bytes().is_err());
        let b = zz(-5);
        assert!(Cursor::new(&b).read_bytes().is_err());
        let mut b = zz(i64::MAX);
        b.push(0);
        assert!(Cursor::new(&b).read_block_count(1).is_err());
        // negative count with a byte size
        let mut b = zz(-2);
        b.extend(zz(10));
        b.extend([0u8; 10]);
        assert_eq!(Cursor::new(&b).read_block_count(1).unwrap(), 2);
        // zero-byte items are capped
        assert!(Cursor::new(&zz(2_000_000)).read_block_count(0).is_err());
        assert_eq!(Cursor::new(&zz(5)).read_block_count(0).unwrap(), 5);
        // bad boolean, bad union index
        assert!(Cursor::new(&[2]).read_boolean().is_err());
        assert!(Cursor::new(&zz(5)).read_union_index(2).is_err());
        assert!(Cursor::new(&zz(-1)).read_union_index(2).is_err());
        let mut b = zz(2);
        b.extend([0xc3, 0x28]);
        assert!(Cursor::new(&b).read_str().is_err());
    }
}
