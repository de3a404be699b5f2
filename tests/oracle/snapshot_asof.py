"""Snapshots of a Hudi table as of several instants, read by the independent `hudi` PyPI reader
(hudi-rs time travel), in the canonical JSON of `snapshot.py`.

Usage: snapshot_asof.py <table base path> <instant time>...

Prints one JSON list with one entry per instant time, in argument order:
  {"as_of": "<time>", "rows": [...], "types": {...}, "skipped": [...]}   (see snapshot.py)
or {"as_of": "<time>", "error": "..."} when the reader fails for that instant.
"""

import json
import sys

import pyarrow as pa
from hudi import HudiQueryType, HudiReadOptions, HudiTable

from snapshot import SKIP, canonical_column, is_nested


def read_as_of(table, ts):
    opts = HudiReadOptions().with_query_type(HudiQueryType.Snapshot).with_as_of_timestamp(ts)
    batches = table.read(opts)
    if not batches:
        return {"as_of": ts, "rows": [], "types": {}, "skipped": []}
    t = pa.Table.from_batches(batches)
    names = [n for n in t.column_names if n not in SKIP]
    skipped = [n for n in names if is_nested(t.schema.field(n).type)]
    names = [n for n in names if n not in skipped]
    cols = {n: canonical_column(t.column(n).combine_chunks()) for n in names}
    rows = [{n: cols[n][i] for n in names} for i in range(t.num_rows)]
    types = {n: str(t.schema.field(n).type) for n in names}
    return {"as_of": ts, "rows": rows, "types": types, "skipped": skipped}


def main():
    if len(sys.argv) < 2:
        print("usage: snapshot_asof.py <table> <instant time>...", file=sys.stderr)
        sys.exit(2)
    table = HudiTable(sys.argv[1])
    out = []
    for ts in sys.argv[2:]:
        try:
            out.append(read_as_of(table, ts))
        except Exception as e:  # reported per instant; the caller decides
            out.append({"as_of": ts, "error": f"{type(e).__name__}: {e}"})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
