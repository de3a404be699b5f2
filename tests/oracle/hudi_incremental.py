"""Oracle: incremental reads of a Hudi table with the `hudi` PyPI package (hudi-rs bindings).

Usage: hudi_incremental.py <table-uri> <window>...
  window = "<start>:<end>"; start "" = from the beginning, end "" = latest.
Prints one JSON document: [{"window": "...", "columns": [...], "rows": [...]} | {"window": "...", "error": "..."}].

Values are normalised to the project's JSON form, independently of the Rust code:
decimals as plain strings with their scale, timestamps ISO-8601 UTC with "Z" (fraction only
when non-zero: 3 digits when whole milliseconds, else 6), dates YYYY-MM-DD, binary base64,
structs as objects, maps as objects (string keys) or [{"key","value"}] lists, floats as numbers.
"""
import base64
import datetime as dt
import decimal
import json
import math
import sys

import pyarrow as pa
from hudi import HudiQueryType, HudiReadOptions, HudiTable


def norm(v, typ):
    if v is None:
        return None
    if pa.types.is_decimal(typ):
        return format(v, "f")
    if pa.types.is_timestamp(typ):
        if v.tzinfo is None:
            v = v.replace(tzinfo=dt.timezone.utc)
        v = v.astimezone(dt.timezone.utc)
        base = v.strftime("%Y-%m-%dT%H:%M:%S")
        us = v.microsecond
        if us == 0:
            return base + "Z"
        if us % 1000 == 0:
            return base + ".%03dZ" % (us // 1000)
        return base + ".%06dZ" % us
    if pa.types.is_date(typ):
        return v.isoformat()
    if pa.types.is_binary(typ) or pa.types.is_large_binary(typ) or pa.types.is_fixed_size_binary(typ):
        return base64.b64encode(v).decode("ascii")
    if pa.types.is_floating(typ):
        if math.isnan(v):
            return "NaN"
        if math.isinf(v):
            return "Infinity" if v > 0 else "-Infinity"
        return float(v)
    if pa.types.is_map(typ):
        kt, vt = typ.key_type, typ.item_type
        if pa.types.is_string(kt) or pa.types.is_large_string(kt):
            return {k: norm(x, vt) for k, x in v}
        return [{"key": norm(k, kt), "value": norm(x, vt)} for k, x in v]
    if pa.types.is_struct(typ):
        return {typ.field(i).name: norm(v.get(typ.field(i).name), typ.field(i).type) for i in range(typ.num_fields)}
    if pa.types.is_list(typ) or pa.types.is_large_list(typ) or pa.types.is_fixed_size_list(typ):
        return [norm(x, typ.value_type) for x in v]
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    return v


def read_window(uri, start, end):
    opts = HudiReadOptions().with_query_type(HudiQueryType.Incremental).with_start_timestamp(start or "0")
    if end:
        opts = opts.with_end_timestamp(end)
    batches = HudiTable(uri).read(opts)
    rows, columns = [], None
    for b in batches:
        if columns is None:
            columns = b.schema.names
        types = [f.type for f in b.schema]
        cols = [c.to_pylist() for c in b.columns]
        for r in range(b.num_rows):
            rows.append({b.schema.names[i]: norm(cols[i][r], types[i]) for i in range(len(types))})
    return columns, rows


def main():
    uri, windows = sys.argv[1], sys.argv[2:]
    out = []
    for w in windows:
        start, _, end = w.partition(":")
        try:
            columns, rows = read_window(uri, start, end)
            out.append({"window": w, "columns": columns, "rows": rows})
        except Exception as e:  # the Rust side decides whether an error is expected
            out.append({"window": w, "error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
