#!/usr/bin/env python3
"""Independent oracle for shared/hudi/tests/realworld_types.rs: the latest row of every record
key of a Hudi table, read from the table's own files without any Hudi library.

- base files: every `*.parquet` outside `.hoodie/`, read with pyarrow (raw stored integers for
  timestamps, so a value is never reinterpreted by the oracle's own type mapping);
- log files: every `.<fileId>_<instant>.log.<n>_<token>` outside `.hoodie/`, framed by hand
  (magic, lengths, header map) and AVRO_DATA records decoded with fastavro after the logical
  types were stripped from the block's SCHEMA header (raw longs, ints and fixed bytes).

Of all versions of a key, the one with the largest (ordering field, commit time) wins (event-time
ordering; pass no ordering field for commit-time ordering). Strings holding an integer in a
column listed with --numeric are parsed (Spark SQL's writes of a timestamp key generator's
partition field). Output: one line per key, sorted, `col=value` pairs in the given column order;
timestamps, dates and decimals as their raw stored integers (decimals unscaled).

Usage: realworld_snapshot.py <table dir> <key column> <ordering column or -> <col,col,...> [--numeric col,...]
Needs: pyarrow, fastavro.
"""
import decimal
import io
import json
import os
import struct
import sys

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq


def strip_logical(schema):
    if isinstance(schema, dict):
        out = {k: strip_logical(v) for k, v in schema.items() if k not in ("logicalType",)}
        if out.get("type") in ("fixed", "bytes") and "precision" in schema:
            out["name"] = out.get("name", "dec")
        return out
    if isinstance(schema, list):
        return [strip_logical(s) for s in schema]
    return schema


def log_records(path):
    buf = open(path, "rb").read()
    off = 0
    while off + 14 <= len(buf):
        if buf[off:off + 6] != b"#HUDI#":
            raise ValueError(f"{path}: no magic at {off}")
        (blen,) = struct.unpack_from(">q", buf, off + 6)
        p = off + 14
        _, btype = struct.unpack_from(">ii", buf, p)
        p += 8
        (n,) = struct.unpack_from(">i", buf, p)
        p += 4
        header = {}
        for _ in range(n):
            k, ln = struct.unpack_from(">ii", buf, p)
            p += 8
            header[k] = buf[p:p + ln].decode()
            p += ln
        (clen,) = struct.unpack_from(">q", buf, p)
        p += 8
        content = buf[p:p + clen]
        if btype == 3:
            schema = fastavro.parse_schema(strip_logical(json.loads(header[2])))
            _, count = struct.unpack_from(">ii", content, 0)
            q = 8
            for _ in range(count):
                (ln,) = struct.unpack_from(">i", content, q)
                q += 4
                yield fastavro.schemaless_reader(io.BytesIO(content[q:q + ln]), schema)
                q += ln
        elif btype != 0:
            raise ValueError(f"{path}: block type {btype} not handled by this oracle")
        off = off + 14 + blen


def base_records(path):
    table = pq.read_table(path)
    cols = {}
    for name in table.column_names:
        col = table.column(name)
        t = col.type
        if pa.types.is_timestamp(t) or pa.types.is_date32(t):
            col = col.cast(pa.int64() if pa.types.is_timestamp(t) else pa.int32())
        cols[name] = col.to_pylist()
    for i in range(table.num_rows):
        yield {name: values[i] for name, values in cols.items()}


def render(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, bytes):  # a decimal's unscaled big-endian two's complement
        return str(int.from_bytes(v, "big", signed=True))
    if isinstance(v, decimal.Decimal):
        return str(int(v.scaleb(-v.as_tuple().exponent)))
    if isinstance(v, float):
        return repr(v)
    return str(v)


def main():
    root, key, ordering, columns = sys.argv[1:5]
    columns = columns.split(",")
    numeric = []
    if "--numeric" in sys.argv:
        numeric = sys.argv[sys.argv.index("--numeric") + 1].split(",")
    latest = {}
    for dirpath, dirnames, files in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".hoodie"]
        for f in files:
            path = os.path.join(dirpath, f)
            if f.endswith(".parquet") and not f.startswith("."):
                rows = base_records(path)
            elif f.startswith(".") and ".log." in f and not f.endswith(".crc"):
                rows = log_records(path)
            else:
                continue
            for r in rows:
                for c in numeric:
                    if isinstance(r.get(c), str):
                        r[c] = int(r[c])
                rank = (r[ordering] if ordering != "-" else 0, r["_hoodie_commit_time"])
                k = r[key]
                if k not in latest or rank >= latest[k][0]:
                    latest[k] = (rank, r)
    for k in sorted(latest, key=str):
        r = latest[k][1]
        print(" ".join(f"{c}={render(r.get(c))}" for c in columns))


if __name__ == "__main__":
    main()
