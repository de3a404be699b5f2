//! MOR log files: block framing, AVRO_DATA blocks and DELETE blocks (log format version 1),
//! as Hudi's `HoodieLogFormatWriter` writes them: block content version 3 (Hudi 0.14+, table
//! version 6 and later) or, for data blocks of table version 5, content version 2 with the
//! `SCHEMA` header first (Hudi 0.12/0.13).

use crate::config::TableVersion;
use crate::encode::{put_long, put_str};

/// Block magic.
pub const MAGIC: &[u8; 6] = b"#HUDI#";
/// Log format version written.
pub const LOG_FORMAT_VERSION: i32 = 1;
/// Content version of data and delete blocks (Hudi 0.14+).
pub const BLOCK_CONTENT_VERSION: i32 = 3;

/// How a writer release frames AVRO_DATA blocks: the content version and the order of the
/// header entries. The record layout inside (count, length-prefixed Avro datums) is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockFormat {
    /// Content version written before the record count.
    pub content_version: i32,
    /// Whether the `SCHEMA` header entry comes before `INSTANT_TIME`.
    pub schema_first: bool,
}

impl BlockFormat {
    /// Hudi 0.14 and later: content version 3, `INSTANT_TIME` then `SCHEMA`.
    pub const CURRENT: BlockFormat = BlockFormat {
        content_version: BLOCK_CONTENT_VERSION,
        schema_first: false,
    };
    /// Hudi 0.12/0.13 (table version 5): content version 2, `SCHEMA` then `INSTANT_TIME`
    /// (as in the logs of `realworld-fixtures/hudi_v5_table`).
    pub const HUDI_0_12: BlockFormat = BlockFormat {
        content_version: 2,
        schema_first: true,
    };

    /// The format the writer of a table version uses.
    pub fn of(version: TableVersion) -> BlockFormat {
        match version {
            TableVersion::V5 => BlockFormat::HUDI_0_12,
            TableVersion::V6 | TableVersion::V9 => BlockFormat::CURRENT,
        }
    }
}

/// Block types used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum BlockType {
    /// A `HoodieDeleteRecordList`.
    Delete = 1,
    /// Avro records.
    AvroData = 3,
}

/// Header key ordinals (`HeaderMetadataType`).
const HEADER_INSTANT_TIME: i32 = 0;
const HEADER_SCHEMA: i32 = 2;

fn put_header(out: &mut Vec<u8>, entries: &[(i32, &str)]) {
    out.extend_from_slice(&(entries.len() as i32).to_be_bytes());
    for (k, v) in entries {
        out.extend_from_slice(&k.to_be_bytes());
        out.extend_from_slice(&(v.len() as i32).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}

/// Append one framed block to `out` with the instant and schema headers.
fn put_block(out: &mut Vec<u8>, ty: BlockType, instant: &str, schema: &str, content: &[u8]) {
    put_block_with(
        out,
        ty,
        &[(HEADER_INSTANT_TIME, instant), (HEADER_SCHEMA, schema)],
        content,
    );
}

/// Append one framed block to `out` with the given header entries.
fn put_block_with(out: &mut Vec<u8>, ty: BlockType, entries: &[(i32, &str)], content: &[u8]) {
    let mut header = Vec::with_capacity(entries.iter().map(|e| e.1.len() + 8).sum::<usize>() + 4);
    put_header(&mut header, entries);
    let footer: [u8; 4] = 0i32.to_be_bytes();
    // everything after the length field, up to and including the trailer
    let block_len = 4 + 4 + header.len() + 8 + content.len() + footer.len() + 8;
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(block_len as i64).to_be_bytes());
    out.extend_from_slice(&LOG_FORMAT_VERSION.to_be_bytes());
    out.extend_from_slice(&(ty as i32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&(content.len() as i64).to_be_bytes());
    out.extend_from_slice(content);
    out.extend_from_slice(&footer);
    // trailer: bytes from the magic up to (excluding) the trailer itself
    out.extend_from_slice(&((block_len + MAGIC.len()) as i64).to_be_bytes());
}

/// Builds the content of one AVRO_DATA block record by record.
#[derive(Debug, Default)]
pub struct DataBlock {
    records: Vec<u8>,
    count: i32,
    scratch: Vec<u8>,
}

impl DataBlock {
    /// Append one record; `encode` writes its Avro datum into the buffer it is given.
    pub fn push(&mut self, encode: impl FnOnce(&mut Vec<u8>)) {
        self.scratch.clear();
        encode(&mut self.scratch);
        self.records
            .extend_from_slice(&(self.scratch.len() as i32).to_be_bytes());
        self.records.extend_from_slice(&self.scratch);
        self.count += 1;
    }

    /// Records so far.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Whether no record was pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Frame the block (instant and record schema in the header) onto `out`, as the writer
    /// release of `format` does.
    pub fn write_to(&self, out: &mut Vec<u8>, instant: &str, schema: &str, format: BlockFormat) {
        let (first, second) = if format.schema_first {
            ((HEADER_SCHEMA, schema), (HEADER_INSTANT_TIME, instant))
        } else {
            ((HEADER_INSTANT_TIME, instant), (HEADER_SCHEMA, schema))
        };
        put_block_with(
            out,
            BlockType::AvroData,
            &[first, second],
            &self.content(format.content_version),
        );
    }

    /// Frame the block as an archive block onto `out`: the record schema is the only header
    /// (archive blocks carry no instant time).
    pub fn write_archive_to(&self, out: &mut Vec<u8>, schema: &str) {
        put_block_with(
            out,
            BlockType::AvroData,
            &[(HEADER_SCHEMA, schema)],
            &self.content(BLOCK_CONTENT_VERSION),
        );
    }

    /// Content version, record count, then the length-prefixed records.
    fn content(&self, content_version: i32) -> Vec<u8> {
        let mut content = Vec::with_capacity(self.records.len() + 8);
        content.extend_from_slice(&content_version.to_be_bytes());
        content.extend_from_slice(&self.count.to_be_bytes());
        content.extend_from_slice(&self.records);
        content
    }
}

/// One deleted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteRecord {
    /// Record key.
    pub record_key: String,
    /// Partition path.
    pub partition_path: String,
    /// Ordering value written as `LongWrapper` (union branch 3); `None` writes null.
    pub ordering_val: Option<i64>,
}

/// Union branch of `LongWrapper` in `HoodieDeleteRecord.orderingVal`
/// (`null, BooleanWrapper, IntWrapper, LongWrapper, ...`).
const ORDERING_LONG_WRAPPER_BRANCH: i64 = 3;

/// Avro-binary `HoodieDeleteRecordList` of `records`.
pub fn encode_delete_list(records: &[DeleteRecord]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(records.len() * 40 + 4);
    if !records.is_empty() {
        put_long(&mut buf, records.len() as i64);
        for r in records {
            put_long(&mut buf, 1);
            put_str(&mut buf, &r.record_key);
            put_long(&mut buf, 1);
            put_str(&mut buf, &r.partition_path);
            match r.ordering_val {
                Some(v) => {
                    put_long(&mut buf, ORDERING_LONG_WRAPPER_BRANCH);
                    put_long(&mut buf, v);
                }
                None => put_long(&mut buf, 0),
            }
        }
    }
    put_long(&mut buf, 0);
    buf
}

/// Frame a DELETE block for `records` onto `out`.
pub fn write_delete_block(
    out: &mut Vec<u8>,
    instant: &str,
    schema: &str,
    records: &[DeleteRecord],
) {
    let list = encode_delete_list(records);
    let mut content = Vec::with_capacity(list.len() + 8);
    content.extend_from_slice(&BLOCK_CONTENT_VERSION.to_be_bytes());
    content.extend_from_slice(&(list.len() as i32).to_be_bytes());
    content.extend_from_slice(&list);
    put_block(out, BlockType::Delete, instant, schema, &content);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (block type, header entries, content) of one block.
    type Block = (i32, Vec<(i32, String)>, Vec<u8>);

    /// A minimal independent walker over the framing (what a reader does).
    fn walk(bytes: &[u8]) -> Vec<Block> {
        let be_i32 = |b: &[u8], p: usize| i32::from_be_bytes(b[p..p + 4].try_into().unwrap());
        let be_i64 = |b: &[u8], p: usize| i64::from_be_bytes(b[p..p + 8].try_into().unwrap());
        let mut out = Vec::new();
        let mut p = 0;
        while p < bytes.len() {
            assert_eq!(&bytes[p..p + 6], MAGIC);
            let block_len = be_i64(bytes, p + 6) as usize;
            let mut q = p + 14;
            assert_eq!(be_i32(bytes, q), 1);
            let ty = be_i32(bytes, q + 4);
            q += 8;
            let n = be_i32(bytes, q);
            q += 4;
            let mut header = Vec::new();
            for _ in 0..n {
                let k = be_i32(bytes, q);
                let l = be_i32(bytes, q + 4) as usize;
                header.push((
                    k,
                    String::from_utf8(bytes[q + 8..q + 8 + l].to_vec()).unwrap(),
                ));
                q += 8 + l;
            }
            let cl = be_i64(bytes, q) as usize;
            let content = bytes[q + 8..q + 8 + cl].to_vec();
            q += 8 + cl;
            assert_eq!(be_i32(bytes, q), 0, "empty footer");
            q += 4;
            assert_eq!(be_i64(bytes, q) as usize, block_len + 6, "trailer");
            q += 8;
            assert_eq!(q, p + 14 + block_len);
            out.push((ty, header, content));
            p = q;
        }
        out
    }

    const DELETE_SCHEMA: &str = r#"{"type":"record","name":"HoodieDeleteRecordList","namespace":"org.apache.hudi.avro.model","fields":[{"name":"deleteRecordList","type":{"type":"array","items":{"type":"record","name":"HoodieDeleteRecord","fields":[
      {"name":"recordKey","type":["null","string"],"default":null},
      {"name":"partitionPath","type":["null","string"],"default":null},
      {"name":"orderingVal","type":["null",
        {"type":"record","name":"BooleanWrapper","fields":[{"name":"value","type":"boolean"}]},
        {"type":"record","name":"IntWrapper","fields":[{"name":"value","type":"int"}]},
        {"type":"record","name":"LongWrapper","fields":[{"name":"value","type":"long"}]},
        {"type":"record","name":"FloatWrapper","fields":[{"name":"value","type":"float"}]}],"default":null}]}}}]}"#;

    #[test]
    fn delete_block_decodes_with_the_hudi_schema() {
        let recs = vec![
            DeleteRecord {
                record_key: "17".into(),
                partition_path: "region=eu".into(),
                ordering_val: Some(1_700_000_000_000),
            },
            DeleteRecord {
                record_key: "18".into(),
                partition_path: "region=us".into(),
                ordering_val: None,
            },
        ];
        let mut file = Vec::new();
        write_delete_block(&mut file, "20250101000000000", "{}", &recs);
        let blocks = walk(&file);
        assert_eq!(blocks.len(), 1);
        let (ty, header, content) = &blocks[0];
        assert_eq!(*ty, BlockType::Delete as i32);
        assert_eq!(header[0], (0, "20250101000000000".to_string()));
        assert_eq!(i32::from_be_bytes(content[0..4].try_into().unwrap()), 3);
        let len = i32::from_be_bytes(content[4..8].try_into().unwrap()) as usize;
        assert_eq!(len, content.len() - 8);
        let schema = apache_avro::Schema::parse_str(DELETE_SCHEMA).unwrap();
        let v = apache_avro::from_avro_datum(&schema, &mut &content[8..], None).unwrap();
        use apache_avro::types::Value;
        let Value::Record(fields) = v else { panic!() };
        let Value::Array(items) = &fields[0].1 else {
            panic!()
        };
        assert_eq!(items.len(), 2);
        let Value::Record(first) = &items[0] else {
            panic!()
        };
        assert_eq!(
            first[0].1,
            Value::Union(1, Box::new(Value::String("17".into())))
        );
        assert_eq!(
            first[1].1,
            Value::Union(1, Box::new(Value::String("region=eu".into())))
        );
        assert_eq!(
            first[2].1,
            Value::Union(
                3,
                Box::new(Value::Record(vec![(
                    "value".into(),
                    Value::Long(1_700_000_000_000)
                )]))
            )
        );
        let Value::Record(second) = &items[1] else {
            panic!()
        };
        assert_eq!(second[2].1, Value::Union(0, Box::new(Value::Null)));
    }

    #[test]
    fn data_block_frames_records() {
        let mut b = DataBlock::default();
        b.push(|buf| put_str(buf, "a"));
        b.push(|buf| put_str(buf, "bc"));
        assert_eq!(b.len(), 2);
        let mut file = Vec::new();
        b.write_to(
            &mut file,
            "20250101000000000",
            r#""string""#,
            BlockFormat::CURRENT,
        );
        let mut e = Vec::new();
        write_delete_block(&mut e, "20250101000000000", "{}", &[]);
        file.extend_from_slice(&e);
        let blocks = walk(&file);
        assert_eq!(blocks.len(), 2);
        let (ty, header, content) = &blocks[0];
        assert_eq!(*ty, 3);
        assert_eq!(header[1], (2, "\"string\"".to_string()));
        assert_eq!(&content[..8], &[0, 0, 0, 3, 0, 0, 0, 2]);
        assert_eq!(
            &content[8..],
            &[0, 0, 0, 2, 2, b'a', 0, 0, 0, 3, 4, b'b', b'c']
        );
    }

    /// Table version 5 writes the data block of Hudi 0.12: content version 2, `SCHEMA` first,
    /// the same records.
    #[test]
    fn version_5_data_block() {
        let mut b = DataBlock::default();
        b.push(|buf| put_str(buf, "a"));
        let mut file = Vec::new();
        b.write_to(
            &mut file,
            "20250101000000000",
            r#""string""#,
            BlockFormat::of(TableVersion::V5),
        );
        let blocks = walk(&file);
        let (ty, header, content) = &blocks[0];
        assert_eq!(*ty, BlockType::AvroData as i32);
        assert_eq!(
            header,
            &vec![
                (2, "\"string\"".to_string()),
                (0, "20250101000000000".to_string())
            ]
        );
        assert_eq!(&content[..8], &[0, 0, 0, 2, 0, 0, 0, 1]);
        assert_eq!(&content[8..], &[0, 0, 0, 2, 2, b'a']);
        assert_eq!(BlockFormat::of(TableVersion::V6), BlockFormat::CURRENT);
    }
}
