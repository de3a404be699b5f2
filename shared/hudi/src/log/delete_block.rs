//! DELETE blocks (docs/hudi-format.md §3): `i32 version (3)`, `i32 len`, then `len` bytes holding
//! one Avro binary `HoodieDeleteRecordList`.
//!
//! The list is not self-describing, so its schema is compiled in ([`DELETE_RECORD_LIST_SCHEMA`],
//! apache/hudi `hudi-common/src/main/avro/HoodieDeleteRecordList.avsc` with the wrapper records
//! of `HoodieMetadata.avsc`). The ordering value is a union of *wrapper records* `{value: T}`
//! whose branch order matters: branch 2 is `IntWrapper`, which Spark SQL deletes write with
//! value 0. The decoder below follows that schema by hand with bounds-checked reads (the
//! generic Avro decoder would pre-allocate untrusted array lengths); a test encodes every branch
//! with `apache-avro` and the compiled-in schema and decodes it back.

use bytes::Bytes;
use hps_storage::DynStore;

use super::avro_binary::{AvroRead, AvroReadError, Cursor};
use super::avro_block::{CONTENT_VERSION, DataBlockOptions};
use super::block::{BlockType, LogBlock};
use super::error::{LogError, LogResult};
use super::ordering::OrderingValue;

/// `HoodieDeleteRecordList` with its wrapper types, as written by Hudi 0.14 – 1.2.
pub const DELETE_RECORD_LIST_SCHEMA: &str = r#"{
  "namespace": "org.apache.hudi.avro.model",
  "type": "record",
  "name": "HoodieDeleteRecordList",
  "fields": [{
    "name": "deleteRecordList",
    "type": {"type": "array", "items": {
      "name": "HoodieDeleteRecord",
      "type": "record",
      "fields": [
        {"name": "recordKey", "type": ["null", "string"], "default": null},
        {"name": "partitionPath", "type": ["null", "string"], "default": null},
        {"name": "orderingVal", "type": [
          "null",
          {"type": "record", "name": "BooleanWrapper", "fields": [{"name": "value", "type": "boolean"}]},
          {"type": "record", "name": "IntWrapper", "fields": [{"name": "value", "type": "int"}]},
          {"type": "record", "name": "LongWrapper", "fields": [{"name": "value", "type": "long"}]},
          {"type": "record", "name": "FloatWrapper", "fields": [{"name": "value", "type": "float"}]},
          {"type": "record", "name": "DoubleWrapper", "fields": [{"name": "value", "type": "double"}]},
          {"type": "record", "name": "BytesWrapper", "fields": [{"name": "value", "type": "bytes"}]},
          {"type": "record", "name": "StringWrapper", "fields": [{"name": "value", "type": "string"}]},
          {"type": "record", "name": "DateWrapper", "fields": [{"name": "value", "type": "int"}]},
          {"type": "record", "name": "DecimalWrapper", "fields": [
            {"name": "value", "type": {"type": "bytes", "logicalType": "decimal", "precision": 30, "scale": 15}}]},
          {"type": "record", "name": "TimeMicrosWrapper", "fields": [
            {"name": "value", "type": {"type": "long", "logicalType": "time-micros"}}]},
          {"type": "record", "name": "TimestampMicrosWrapper", "fields": [{"name": "value", "type": "long"}]},
          {"type": "record", "name": "ArrayWrapper", "fields": [
            {"name": "wrappedValues", "type": ["null", {"type": "array", "items": [
              "null",
              "BooleanWrapper", "IntWrapper", "LongWrapper", "FloatWrapper", "DoubleWrapper",
              "BytesWrapper", "StringWrapper", "DateWrapper", "DecimalWrapper",
              "TimeMicrosWrapper", "TimestampMicrosWrapper",
              {"type": "record", "name": "LocalDateWrapper", "fields": [{"name": "value", "type": "int"}]}
            ]}], "default": null}]}
        ], "default": null}
      ]
    }}
  }]
}"#;

/// Scale of `DecimalWrapper` values (`decimal(30, 15)`).
pub const DECIMAL_WRAPPER_SCALE: i8 = 15;

/// One deleted key.
#[derive(Debug, Clone, PartialEq)]
pub struct DeleteRecord {
    /// The record key string (`v` or `f1:v1,f2:v2`).
    pub record_key: String,
    /// The partition path (`""` for non-partitioned tables).
    pub partition_path: String,
    /// The ordering value written with the delete, if any. `None` or `Int(0)` mark a
    /// natural-order delete (see [`OrderingValue::is_natural_delete`]).
    pub ordering_value: Option<OrderingValue>,
}

/// Decode one `HoodieDeleteRecordList` datum.
pub fn decode_delete_record_list(datum: &[u8]) -> Result<Vec<DeleteRecord>, String> {
    let mut c = Cursor::new(datum);
    let out = read_list(&mut c).map_err(|e| e.0)?;
    if !c.is_empty() {
        return Err(format!(
            "{} trailing bytes after the delete record list",
            c.remaining()
        ));
    }
    Ok(out)
}

fn read_list(c: &mut Cursor<'_>) -> AvroRead<Vec<DeleteRecord>> {
    let mut out = Vec::new();
    loop {
        // each HoodieDeleteRecord takes at least 3 bytes (three union indexes)
        let n = c.read_block_count(3)?;
        if n == 0 {
            return Ok(out);
        }
        out.reserve(n);
        for _ in 0..n {
            out.push(read_record(c, out.len())?);
        }
    }
}

fn read_opt_string(c: &mut Cursor<'_>) -> AvroRead<Option<String>> {
    match c.read_union_index(2)? {
        0 => Ok(None),
        _ => Ok(Some(c.read_str()?.to_string())),
    }
}

fn read_record(c: &mut Cursor<'_>, index: usize) -> AvroRead<DeleteRecord> {
    let record_key = read_opt_string(c)?
        .ok_or_else(|| AvroReadError(format!("delete record {index} has a null record key")))?;
    let partition_path = read_opt_string(c)?.unwrap_or_default();
    let ordering_value = read_wrapper(c, 13, false)?;
    Ok(DeleteRecord {
        record_key,
        partition_path,
        ordering_value,
    })
}

/// One wrapper union value. `branches` is 13 for `orderingVal` (… `ArrayWrapper`) and 13 for
/// the items of `ArrayWrapper.wrappedValues` (… `LocalDateWrapper`, no nesting).
fn read_wrapper(
    c: &mut Cursor<'_>,
    branches: usize,
    in_array: bool,
) -> AvroRead<Option<OrderingValue>> {
    let v = match c.read_union_index(branches)? {
        0 => return Ok(None),
        1 => OrderingValue::Boolean(c.read_boolean()?),
        2 => OrderingValue::Int(c.read_int()?),
        3 => OrderingValue::Long(c.read_long()?),
        4 => OrderingValue::Float(c.read_float()?),
        5 => OrderingValue::Double(c.read_double()?),
        6 => OrderingValue::Bytes(c.read_bytes()?.to_vec()),
        7 => OrderingValue::String(c.read_str()?.to_string()),
        8 => OrderingValue::Date(c.read_int()?),
        9 => {
            let b = c.read_bytes()?;
            let unscaled = be_to_i128(b).map_err(AvroReadError)?;
            OrderingValue::Decimal {
                unscaled,
                scale: DECIMAL_WRAPPER_SCALE,
            }
        }
        10 => OrderingValue::TimeMicros(c.read_long()?),
        11 => OrderingValue::TimestampMicros(c.read_long()?),
        12 if in_array => OrderingValue::Date(c.read_int()?), // LocalDateWrapper
        12 => {
            // ArrayWrapper { wrappedValues: [null, array<[null, wrappers…, LocalDateWrapper]>] }
            let values = match c.read_union_index(2)? {
                0 => Vec::new(),
                _ => {
                    let mut values = Vec::new();
                    loop {
                        let n = c.read_block_count(1)?;
                        if n == 0 {
                            break;
                        }
                        for _ in 0..n {
                            values.push(read_wrapper(c, 13, true)?);
                        }
                    }
                    values
                }
            };
            OrderingValue::Array(values)
        }
        other => {
            return Err(AvroReadError(format!(
                "ordering value branch {other} is unknown"
            )));
        }
    };
    Ok(Some(v))
}

fn be_to_i128(b: &[u8]) -> Result<i128, String> {
    if b.is_empty() {
        return Ok(0);
    }
    let negative = b[0] & 0x80 != 0;
    let fill = if negative { 0xff } else { 0 };
    let (head, tail) = if b.len() > 16 {
        b.split_at(b.len() - 16)
    } else {
        (&[][..], b)
    };
    if head.iter().any(|x| *x != fill) || (!head.is_empty() && ((tail[0] & 0x80 != 0) != negative))
    {
        return Err(format!(
            "decimal of {} bytes does not fit 128 bits",
            b.len()
        ));
    }
    let mut buf = [fill; 16];
    buf[16 - tail.len()..].copy_from_slice(tail);
    Ok(i128::from_be_bytes(buf))
}

/// Why a DELETE block of content `version` is refused. Versions 1 (Hudi <= 0.10: `HoodieKey[]`)
/// and 2 (Hudi 0.11-0.13: `DeleteRecord[]`, whose encoding changed again in 0.13) hold
/// Kryo-serialized Java objects, which only a JVM reads reliably.
pub(crate) fn delete_version_refusal(version: i32) -> String {
    match version {
        1 | 2 => "a Kryo-serialized DELETE block written by Hudi 0.13 or older (table version \
                  5 or older) is not supported; compact the file group with Hudi 0.14 or later \
                  (which rewrites deletes into the base file), then read again"
            .to_string(),
        _ => format!("only DELETE blocks of content version {CONTENT_VERSION} are supported"),
    }
}

/// Decode a DELETE block's content (`i32 version`, `i32 len`, datum).
pub fn decode_delete_block_content(content: &[u8]) -> Result<Vec<DeleteRecord>, String> {
    if content.len() < 8 {
        return Err(format!(
            "delete block content of {} bytes is too short",
            content.len()
        ));
    }
    let version = i32::from_be_bytes([content[0], content[1], content[2], content[3]]);
    if version != CONTENT_VERSION {
        return Err(format!(
            "delete block content version {version}: {}",
            delete_version_refusal(version)
        ));
    }
    let len = i32::from_be_bytes([content[4], content[5], content[6], content[7]]);
    let rest = &content[8..];
    let len = usize::try_from(len)
        .ok()
        .filter(|l| *l <= rest.len())
        .ok_or_else(|| {
            format!(
                "delete list length {len} does not fit the {} bytes left",
                rest.len()
            )
        })?;
    if len != rest.len() {
        return Err(format!("{} bytes after the delete list", rest.len() - len));
    }
    decode_delete_record_list(&rest[..len])
}

/// Fetch and decode the DELETE block `block` (its content is held in memory; it is refused
/// above `options.max_in_memory_bytes`).
pub async fn read_delete_block(
    store: &DynStore,
    block: &LogBlock,
    options: &DataBlockOptions,
) -> LogResult<Vec<DeleteRecord>> {
    if block.block_type != BlockType::Delete {
        return Err(LogError::Unsupported {
            file: block.file.clone(),
            what: format!(
                "block at byte {} is {}, not DELETE",
                block.offset, block.block_type
            ),
        });
    }
    let content: Bytes = block
        .fetch_content(store, options.max_in_memory_bytes)
        .await?;
    if content.len() >= 4 {
        let version = i32::from_be_bytes([content[0], content[1], content[2], content[3]]);
        if version != CONTENT_VERSION {
            return Err(LogError::UnsupportedContentVersion {
                file: block.file.clone(),
                offset: block.offset,
                version,
                why: delete_version_refusal(version),
            });
        }
    }
    decode_delete_block_content(&content).map_err(|reason| LogError::AvroDecode {
        file: block.file.clone(),
        offset: block.offset,
        record: 0,
        reason,
    })
}

#[cfg(test)]
mod tests {
    use apache_avro::Schema;
    use apache_avro::types::Value;

    use super::*;

    fn wrap(branch: u32, name: &str, value: Value) -> Value {
        let _ = name;
        Value::Union(
            branch,
            Box::new(Value::Record(vec![("value".into(), value)])),
        )
    }

    fn record(key: &str, partition: Option<&str>, ordering: Value) -> Value {
        Value::Record(vec![
            (
                "recordKey".into(),
                Value::Union(1, Box::new(Value::String(key.into()))),
            ),
            (
                "partitionPath".into(),
                match partition {
                    Some(p) => Value::Union(1, Box::new(Value::String(p.into()))),
                    None => Value::Union(0, Box::new(Value::Null)),
                },
            ),
            ("orderingVal".into(), ordering),
        ])
    }

    fn encode(records: Vec<Value>) -> Vec<u8> {
        let schema = Schema::parse_str(DELETE_RECORD_LIST_SCHEMA).unwrap();
        let v = Value::Record(vec![("deleteRecordList".into(), Value::Array(records))]);
        apache_avro::to_avro_datum(&schema, v).unwrap()
    }

    fn content(datum: &[u8]) -> Vec<u8> {
        let mut out = 3i32.to_be_bytes().to_vec();
        out.extend((datum.len() as i32).to_be_bytes());
        out.extend_from_slice(datum);
        out
    }

    #[test]
    fn fixture_bytes_decode_as_int_wrapper_zero() {
        // v9_txns_simple_meta region=us: `00000003 00000018 02 02 0e "TXN-002" 02 12 "region=us" 04 00 00`
        let mut c = vec![0, 0, 0, 3, 0, 0, 0, 0x18, 0x02, 0x02, 0x0e];
        c.extend(b"TXN-002");
        c.extend([0x02, 0x12]);
        c.extend(b"region=us");
        c.extend([0x04, 0x00, 0x00]);
        let recs = decode_delete_block_content(&c).unwrap();
        assert_eq!(
            recs,
            vec![DeleteRecord {
                record_key: "TXN-002".into(),
                partition_path: "region=us".into(),
                ordering_value: Some(OrderingValue::Int(0)),
            }]
        );
        assert!(
            recs[0]
                .ordering_value
                .as_ref()
                .is_some_and(OrderingValue::is_natural_delete)
        );
    }

    #[test]
    fn every_wrapper_branch_roundtrips_through_the_compiled_in_schema() {
        let dec_bytes = (-12_345_678_900_000_000_000i128).to_be_bytes().to_vec();
        let cases: Vec<(Value, Option<OrderingValue>)> = vec![
            (Value::Union(0, Box::new(Value::Null)), None),
            (
                wrap(1, "BooleanWrapper", Value::Boolean(true)),
                Some(OrderingValue::Boolean(true)),
            ),
            (
                wrap(2, "IntWrapper", Value::Int(-7)),
                Some(OrderingValue::Int(-7)),
            ),
            (
                wrap(3, "LongWrapper", Value::Long(1 << 40)),
                Some(OrderingValue::Long(1 << 40)),
            ),
            (
                wrap(4, "FloatWrapper", Value::Float(1.5)),
                Some(OrderingValue::Float(1.5)),
            ),
            (
                wrap(5, "DoubleWrapper", Value::Double(-2.25)),
                Some(OrderingValue::Double(-2.25)),
            ),
            (
                wrap(6, "BytesWrapper", Value::Bytes(vec![1, 2, 3])),
                Some(OrderingValue::Bytes(vec![1, 2, 3])),
            ),
            (
                wrap(7, "StringWrapper", Value::String("zz".into())),
                Some(OrderingValue::String("zz".into())),
            ),
            (
                wrap(8, "DateWrapper", Value::Int(19000)),
                Some(OrderingValue::Date(19000)),
            ),
            (
                wrap(
                    9,
                    "DecimalWrapper",
                    Value::Decimal(apache_avro::Decimal::from(dec_bytes.clone())),
                ),
                Some(OrderingValue::Decimal {
                    unscaled: -12_345_678_900_000_000_000,
                    scale: 15,
                }),
            ),
            (
                wrap(10, "TimeMicrosWrapper", Value::TimeMicros(86_399_000_000)),
                Some(OrderingValue::TimeMicros(86_399_000_000)),
            ),
            (
                wrap(
                    11,
                    "TimestampMicrosWrapper",
                    Value::Long(1_700_000_000_000_000),
                ),
                Some(OrderingValue::TimestampMicros(1_700_000_000_000_000)),
            ),
            (
                Value::Union(
                    12,
                    Box::new(Value::Record(vec![(
                        "wrappedValues".into(),
                        Value::Union(
                            1,
                            Box::new(Value::Array(vec![
                                wrap(3, "LongWrapper", Value::Long(5)),
                                Value::Union(0, Box::new(Value::Null)),
                                wrap(7, "StringWrapper", Value::String("b".into())),
                                wrap(12, "LocalDateWrapper", Value::Int(3)),
                            ])),
                        ),
                    )])),
                ),
                Some(OrderingValue::Array(vec![
                    Some(OrderingValue::Long(5)),
                    None,
                    Some(OrderingValue::String("b".into())),
                    Some(OrderingValue::Date(3)),
                ])),
            ),
        ];
        let (values, expected): (Vec<_>, Vec<_>) = cases.into_iter().unzip();
        let records: Vec<Value> = values
            .into_iter()
            .enumerate()
            .map(|(i, v)| record(&format!("k{i}"), Some("p=1"), v))
            .collect();
        let datum = encode(records);
        let got = decode_delete_block_content(&content(&datum)).unwrap();
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(expected).enumerate() {
            assert_eq!(g.record_key, format!("k{i}"));
            assert_eq!(g.partition_path, "p=1");
            assert_eq!(g.ordering_value, e, "branch {i}");
        }
        // null partition path decodes as ""
        let datum = encode(vec![record(
            "k",
            None,
            Value::Union(0, Box::new(Value::Null)),
        )]);
        assert_eq!(
            decode_delete_record_list(&datum).unwrap()[0].partition_path,
            ""
        );
        // an empty list
        assert!(
            decode_delete_record_list(&encode(vec![]))
                .unwrap()
                .is_empty()
        );
    }

    /// Table versions <= 5 write DELETE blocks of content version 1 (Hudi <= 0.10, Kryo
    /// `HoodieKey[]`) or 2 (Hudi 0.11-0.13, Kryo `DeleteRecord[]`): refused with a typed error
    /// that says how to make the table readable.
    #[tokio::test]
    async fn kryo_delete_blocks_of_versions_1_and_2_are_refused() {
        use std::sync::Arc;

        use hps_storage::LocalStore;

        use crate::log::block::{LogFileReader, encode_block};

        for version in [1i32, 2] {
            // a Kryo stream is opaque to us: any bytes after the version and length do
            let mut content = version.to_be_bytes().to_vec();
            content.extend(4i32.to_be_bytes());
            content.extend([0x01, 0x02, 0x03, 0x04]);
            let file = encode_block(1, &[(0, "20220901000000000")], &content, &[]);
            let dir = tempfile::tempdir().unwrap();
            let store: DynStore = Arc::new(LocalStore::new(dir.path()));
            store.put("d.log", Bytes::from(file.clone())).await.unwrap();
            let block = LogFileReader::new(store.clone(), "d.log", file.len() as u64)
                .read_all()
                .await
                .unwrap()
                .remove(0);
            let err = read_delete_block(&store, &block, &DataBlockOptions::default())
                .await
                .unwrap_err();
            match &err {
                LogError::UnsupportedContentVersion {
                    version: v, why, ..
                } => {
                    assert_eq!(*v, version);
                    assert!(why.contains("Kryo") && why.contains("0.14"), "{why}");
                }
                other => panic!("{other:?}"),
            }
            assert!(
                decode_delete_block_content(&content)
                    .unwrap_err()
                    .contains("Kryo")
            );
        }
    }

    #[test]
    fn hostile_delete_content_is_rejected() {
        let datum = encode(vec![record(
            "k",
            Some("p"),
            wrap(2, "IntWrapper", Value::Int(0)),
        )]);
        let good = content(&datum);
        assert!(decode_delete_block_content(&good).is_ok());
        // too short, wrong version
        assert!(decode_delete_block_content(&good[..6]).is_err());
        let mut v = good.clone();
        v[3] = 2;
        assert!(
            decode_delete_block_content(&v)
                .unwrap_err()
                .contains("version")
        );
        // length longer / shorter than the content, negative
        for len in [i32::MAX, -1, datum.len() as i32 + 1, datum.len() as i32 - 1] {
            let mut v = good.clone();
            v[4..8].copy_from_slice(&len.to_be_bytes());
            assert!(decode_delete_block_content(&v).is_err(), "len {len}");
        }
        // truncated datum (length adjusted): every prefix fails cleanly
        for cut in 0..datum.len() {
            let mut v = 3i32.to_be_bytes().to_vec();
            v.extend((cut as i32).to_be_bytes());
            v.extend_from_slice(&datum[..cut]);
            assert!(decode_delete_block_content(&v).is_err(), "cut {cut}");
        }
        // a huge array count in a tiny datum does not allocate
        let huge = [0xfe, 0xff, 0xff, 0xff, 0x0f, 0x00]; // zig-zag 2^31 - 1 items
        assert!(
            decode_delete_record_list(&huge)
                .unwrap_err()
                .contains("items")
        );
        // unknown ordering branch
        let mut bad = datum.clone();
        let n = bad.len();
        bad[n - 3] = 0x1c; // branch 14
        assert!(decode_delete_record_list(&bad).is_err());
        // null record key
        let mut nk = vec![0x02, 0x00, 0x00, 0x00, 0x00];
        nk.truncate(5);
        assert!(
            decode_delete_record_list(&nk)
                .unwrap_err()
                .contains("null record key")
        );
    }
}
