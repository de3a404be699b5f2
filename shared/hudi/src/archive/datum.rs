//! A bounded decoder of Avro binary datums into neutral JSON values, for archive payloads.
//!
//! `apache_avro`'s own decoder trusts array/map counts and string lengths up to half a
//! gigabyte before it sees whether the bytes exist, so a few hostile bytes can make it reserve
//! gigabytes. Archive payloads are small records, so they are walked here instead: every
//! length and count is checked against the bytes that remain (through the log layer's
//! bounds-checked cursor) and nesting is capped. The JSON shape is the one
//! [`crate::metadata::avro_to_json`] produces (unions unwrapped, maps and records as objects,
//! bytes as arrays of numbers), so the metadata parsers accept it unchanged.

use std::collections::HashMap;

use apache_avro::Schema;
use apache_avro::schema::{Name, ResolvedSchema};
use serde_json::{Map, Value as Json};

use crate::log::avro_binary::Cursor;

/// Deepest nesting of records, arrays, maps and unions accepted in one datum.
const MAX_DEPTH: usize = 64;

const OCF_MAGIC: &[u8; 4] = b"Obj\x01";
const SYNC_LEN: usize = 16;

/// A parsed writer schema plus its named types (for references inside it).
pub(crate) struct DatumSchema {
    schema: Schema,
}

impl DatumSchema {
    /// Parse a writer schema from its JSON text.
    pub(crate) fn parse(json: &str) -> Result<DatumSchema, String> {
        let schema = Schema::parse_str(json).map_err(|e| format!("invalid Avro schema: {e}"))?;
        Ok(DatumSchema { schema })
    }

    /// The full name of the top-level record (`org.apache.hudi.avro.model.X`), if named.
    pub(crate) fn record_name(&self) -> Option<String> {
        match &self.schema {
            Schema::Record(r) => Some(r.name.fullname(None)),
            _ => None,
        }
    }

    /// Decode exactly one datum filling `bytes`; trailing bytes are an error.
    pub(crate) fn decode(&self, bytes: &[u8]) -> Result<Json, String> {
        let resolved = ResolvedSchema::try_from(&self.schema)
            .map_err(|e| format!("unresolvable Avro schema: {e}"))?;
        let mut walker = Walker {
            names: resolved.get_names(),
            cursor: Cursor::new(bytes),
        };
        let v = walker.value(&self.schema, 0)?;
        match walker.cursor.remaining() {
            0 => Ok(v),
            n => Err(format!("{n} bytes left over after the record")),
        }
    }
}

struct Walker<'a, 'd> {
    names: &'a HashMap<Name, &'a Schema>,
    cursor: Cursor<'d>,
}

impl Walker<'_, '_> {
    fn value(&mut self, schema: &Schema, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH} levels"));
        }
        let c = &mut self.cursor;
        let v = match schema {
            Schema::Null => Json::Null,
            Schema::Boolean => Json::Bool(c.read_boolean().map_err(|e| e.0)?),
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                Json::from(c.read_int().map_err(|e| e.0)?)
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Json::from(c.read_long().map_err(|e| e.0)?),
            Schema::Float => number(f64::from(c.read_float().map_err(|e| e.0)?)),
            Schema::Double => number(c.read_double().map_err(|e| e.0)?),
            Schema::String | Schema::Uuid => Json::from(c.read_str().map_err(|e| e.0)?),
            Schema::Bytes | Schema::BigDecimal => byte_array(c.read_bytes().map_err(|e| e.0)?),
            Schema::Fixed(f) => byte_array(c.take(f.size).map_err(|e| e.0)?),
            Schema::Duration => byte_array(c.take(12).map_err(|e| e.0)?),
            Schema::Decimal(d) => return self.value(&d.inner, depth + 1),
            Schema::Enum(e) => {
                let i = c.read_union_index(e.symbols.len()).map_err(|e| e.0)?;
                Json::from(e.symbols[i].clone())
            }
            Schema::Union(u) => {
                let i = c.read_union_index(u.variants().len()).map_err(|e| e.0)?;
                return self.value(&u.variants()[i], depth + 1);
            }
            Schema::Array(a) => self.array(&a.items, depth)?,
            Schema::Map(m) => self.map(&m.types, depth)?,
            Schema::Record(r) => {
                let mut out = Map::new();
                for f in &r.fields {
                    let v = self.value(&f.schema, depth + 1)?;
                    out.insert(f.name.clone(), v);
                }
                Json::Object(out)
            }
            Schema::Ref { name } => {
                let target = *self
                    .names
                    .get(name)
                    .ok_or_else(|| format!("unknown named type {}", name.fullname(None)))?;
                return self.value(target, depth + 1);
            }
        };
        Ok(v)
    }

    fn array(&mut self, items: &Schema, depth: usize) -> Result<Json, String> {
        let mut out = Vec::new();
        loop {
            let n = self
                .cursor
                .read_block_count(min_bytes(items))
                .map_err(|e| e.0)?;
            if n == 0 {
                return Ok(Json::Array(out));
            }
            for _ in 0..n {
                out.push(self.value(items, depth + 1)?);
            }
        }
    }

    fn map(&mut self, values: &Schema, depth: usize) -> Result<Json, String> {
        let mut out = Map::new();
        loop {
            // every entry holds at least its key length
            let n = self.cursor.read_block_count(1).map_err(|e| e.0)?;
            if n == 0 {
                return Ok(Json::Object(out));
            }
            for _ in 0..n {
                let k = self.cursor.read_str().map_err(|e| e.0)?.to_string();
                let v = self.value(values, depth + 1)?;
                out.insert(k, v);
            }
        }
    }
}

/// A lower bound of the encoded size of one value (0 only for `null`).
fn min_bytes(s: &Schema) -> usize {
    match s {
        Schema::Null => 0,
        _ => 1,
    }
}

fn number(f: f64) -> Json {
    serde_json::Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn byte_array(b: &[u8]) -> Json {
    Json::Array(b.iter().map(|x| Json::from(*x)).collect())
}

/// A one-record Avro object container file taken apart: the writer schema and the datum.
pub(crate) struct SingleRecordOcf<'a> {
    /// The writer schema (`avro.schema`).
    pub schema: DatumSchema,
    /// The bytes of the only record.
    pub datum: &'a [u8],
}

/// Split an object container file that must hold exactly one record and use no codec (the
/// format of instant files and of archived payloads).
pub(crate) fn split_single_record_ocf(bytes: &[u8]) -> Result<SingleRecordOcf<'_>, String> {
    let body = bytes.strip_prefix(OCF_MAGIC.as_slice()).ok_or_else(|| {
        format!(
            "not an Avro object container file (starts with {})",
            hex_head(bytes)
        )
    })?;
    let mut c = Cursor::new(body);
    let (schema_json, codec) = ocf_header(&mut c)?;
    if codec.as_deref().is_some_and(|codec| codec != "null") {
        return Err(format!("unsupported container codec {codec:?}"));
    }
    let schema_json = schema_json.ok_or("container has no avro.schema")?;
    let schema = DatumSchema::parse(&schema_json)?;
    c.take(SYNC_LEN)
        .map_err(|e| format!("sync marker: {}", e.0))?;
    let count = c.read_long().map_err(|e| format!("block count: {}", e.0))?;
    if count != 1 {
        return Err(format!(
            "container holds {count} records in its first block, expected 1"
        ));
    }
    let size = c.read_long().map_err(|e| format!("block size: {}", e.0))?;
    let size = usize::try_from(size).map_err(|_| format!("negative block size {size}"))?;
    let datum = c.take(size).map_err(|e| format!("record: {}", e.0))?;
    c.take(SYNC_LEN)
        .map_err(|e| format!("block sync marker: {}", e.0))?;
    if !c.is_empty() {
        return Err("container holds more than one block".to_string());
    }
    Ok(SingleRecordOcf { schema, datum })
}

/// The header's metadata map: `avro.schema` and `avro.codec`.
fn ocf_header(c: &mut Cursor<'_>) -> Result<(Option<String>, Option<String>), String> {
    let (mut schema, mut codec) = (None, None);
    loop {
        let n = c
            .read_block_count(1)
            .map_err(|e| format!("header: {}", e.0))?;
        if n == 0 {
            return Ok((schema, codec));
        }
        for _ in 0..n {
            let k = c.read_str().map_err(|e| format!("header key: {}", e.0))?;
            let v = c
                .read_bytes()
                .map_err(|e| format!("header value: {}", e.0))?;
            let v = std::str::from_utf8(v).map_err(|e| format!("header {k}: {e}"))?;
            match k {
                "avro.schema" => schema = Some(v.to_string()),
                "avro.codec" => codec = Some(v.to_string()),
                _ => {}
            }
        }
    }
}

fn hex_head(b: &[u8]) -> String {
    let h: Vec<String> = b.iter().take(8).map(|x| format!("{x:02x}")).collect();
    if h.is_empty() {
        "nothing: it is empty".to_string()
    } else {
        h.join(" ")
    }
}

/// Decode a one-record container into JSON, bounded as the rest of this module.
pub(crate) fn decode_single_record_ocf(bytes: &[u8]) -> Result<(Option<String>, Json), String> {
    let ocf = split_single_record_ocf(bytes)?;
    let v = ocf.schema.decode(ocf.datum)?;
    Ok((ocf.schema.record_name(), v))
}
