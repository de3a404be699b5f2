"""Snapshot of a Hudi table read by the independent `hudi` PyPI reader, in canonical JSON.

Usage: snapshot.py <table base path>

Prints one JSON object:
  {"rows": [{column: value, ...}, ...], "types": {column: arrow type}, "skipped": [column, ...]}
with every column except `_hoodie_file_name` (clustering and compaction rewrite it without
changing the row) and nested columns (lists, structs, maps: listed in "skipped"). Values are
canonical so that a consumer can compare them with any other representation:
  - null -> null; booleans, integers and strings as JSON;
  - floating point -> JSON number, or the strings "NaN", "Infinity", "-Infinity";
  - decimals -> their exact decimal string (str(Decimal));
  - timestamps -> integer microseconds since the epoch (UTC; naive timestamps as if UTC);
  - dates -> integer days since the epoch;
  - binary -> lowercase hex string.
"""

import json
import math
import sys
from decimal import Decimal

import pyarrow as pa
from hudi import HudiReadOptions, HudiTable

SKIP = {"_hoodie_file_name"}


def canonical_column(col):
    t = col.type
    if pa.types.is_timestamp(t):
        tz = t.tz
        col = col.cast(pa.timestamp("us", tz=tz)).cast(pa.int64())
        return col.to_pylist()
    if pa.types.is_date(t):
        return col.cast(pa.date32()).cast(pa.int32()).to_pylist()
    values = col.to_pylist()
    if pa.types.is_floating(t):
        out = []
        for v in values:
            if v is None:
                out.append(None)
            elif math.isnan(v):
                out.append("NaN")
            elif math.isinf(v):
                out.append("Infinity" if v > 0 else "-Infinity")
            else:
                out.append(v)
        return out
    if pa.types.is_decimal(t):
        return [None if v is None else str(v) for v in values]
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_fixed_size_binary(t):
        return [None if v is None else v.hex() for v in values]
    return [str(v) if isinstance(v, Decimal) else v for v in values]


def is_nested(t):
    return pa.types.is_nested(t) or pa.types.is_dictionary(t)


def main():
    if len(sys.argv) != 2:
        print("usage: snapshot.py <table>", file=sys.stderr)
        sys.exit(2)
    table = HudiTable(sys.argv[1])
    batches = table.read(HudiReadOptions())
    schema = table.get_schema()
    types = {f.name: str(f.type) for f in schema}
    if not batches:
        print(json.dumps({"rows": [], "types": types, "skipped": []}))
        return
    t = pa.Table.from_batches(batches)
    names = [n for n in t.column_names if n not in SKIP]
    skipped = [n for n in names if is_nested(t.schema.field(n).type)]
    names = [n for n in names if n not in skipped]
    cols = {n: canonical_column(t.column(n).combine_chunks()) for n in names}
    rows = [{n: cols[n][i] for n in names} for i in range(t.num_rows)]
    print(json.dumps({"rows": rows, "types": {n: str(t.schema.field(n).type) for n in names}, "skipped": skipped}))


if __name__ == "__main__":
    main()
