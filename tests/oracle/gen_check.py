"""Check a table written by hps-gen (`hudi-gen`) with the independent `hudi` PyPI reader.

Usage: gen_check.py <table base path> [manifest.json]
(default manifest: <table>/.hoodie/.aux/hudi-gen/manifest.json)

Reads the table with hudi (hudi-rs bindings) and compares with the generator's manifest:
- snapshot: exactly the expected live ids, each once, each with the `_hoodie_commit_time`
  of the commit that last wrote it, in the right partition;
- samples: every column of the manifest's sample rows;
- incremental: for every commit, the window (previous bound, this bound] returns exactly the
  ids the commit inserted or updated, all stamped with its instant time (bounds: completion
  time on table version 9, instant time on version 6); plus the cumulative window over all
  commits after the first.

Prints one JSON object (`ok` true when everything matched) and exits 0; exits 1 only when the
table cannot be read at all.
"""

import json
import sys
from decimal import Decimal

import pyarrow as pa
from hudi import HudiQueryType, HudiReadOptions, HudiTable

LIMIT = 20  # ids listed per mismatch kind


def load_manifest(table, path):
    path = path or f"{table}/.hoodie/.aux/hudi-gen/manifest.json"
    with open(path) as f:
        return json.load(f)


def read(table, options):
    batches = table.read(options)
    if not batches:
        return None
    return pa.Table.from_batches(batches)


def normalize(value):
    if isinstance(value, Decimal):
        return str(value)
    return value


def rows_by_id(t, columns):
    """id -> {column: normalized value}; timestamps as epoch micros, dates as epoch days."""
    out = {}
    if t is None:
        return out
    cols = {}
    for name in columns:
        col = t.column(name)
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.int64())
        elif pa.types.is_date32(col.type):
            col = col.cast(pa.int32())
        cols[name] = [normalize(v) for v in col.to_pylist()]
    ids = t.column("id").to_pylist()
    for i, id_ in enumerate(ids):
        out.setdefault(id_, []).append({name: cols[name][i] for name in columns})
    return out


def compare_ids(got_ids, expected_ids):
    got, exp = set(got_ids), set(expected_ids)
    return {
        "missing": sorted(exp - got)[:LIMIT],
        "missing_count": len(exp - got),
        "unexpected": sorted(got - exp)[:LIMIT],
        "unexpected_count": len(got - exp),
    }


def main():
    if len(sys.argv) < 2:
        print("usage: gen_check.py <table> [manifest.json]", file=sys.stderr)
        sys.exit(2)
    base = sys.argv[1]
    manifest = load_manifest(base, sys.argv[2] if len(sys.argv) > 2 else None)
    commits = manifest["commits"]
    instants = [c["instant"] for c in commits]
    table = HudiTable(base)
    ok = True

    # expected final state: id -> version
    state = {}
    for c in commits:
        for a, b in c["inserted"]:
            for id_ in range(a, b):
                state[id_] = c["version"]
        for id_ in c["updated"]:
            state[id_] = c["version"]
        for id_ in c["deleted"]:
            state.pop(id_, None)

    schema = {f.name: str(f.type) for f in table.get_schema()}
    data_columns = list(manifest["samples"][0]["row"].keys()) if manifest["samples"] else ["id"]
    meta = ["_hoodie_commit_time", "_hoodie_record_key", "_hoodie_partition_path"]

    # --- snapshot
    snap = read(table, HudiReadOptions())
    by_id = rows_by_id(snap, meta + data_columns)
    duplicates = sorted(i for i, rows in by_id.items() if len(rows) > 1)
    wrong_time, wrong_key = [], []
    for id_, rows in by_id.items():
        v = state.get(id_)
        if v is None:
            continue
        if rows[0]["_hoodie_commit_time"] != instants[v]:
            wrong_time.append(id_)
        if rows[0]["_hoodie_record_key"] != str(id_):
            wrong_key.append(id_)
    snapshot = {
        "rows": 0 if snap is None else snap.num_rows,
        "expected": len(state),
        "duplicates": duplicates[:LIMIT],
        "wrong_commit_time": sorted(wrong_time)[:LIMIT],
        "wrong_commit_time_count": len(wrong_time),
        "wrong_record_key_count": len(wrong_key),
        **compare_ids(by_id.keys(), state.keys()),
    }
    if (snapshot["rows"] != len(state) or duplicates or wrong_time or wrong_key
            or snapshot["missing_count"] or snapshot["unexpected_count"]):
        ok = False

    # --- sample rows, every column
    sample_mismatches = []
    for s in manifest["samples"]:
        rows = by_id.get(s["id"])
        if not rows:
            sample_mismatches.append({"id": s["id"], "error": "absent from snapshot"})
            continue
        got = rows[0]
        diffs = {k: [got.get(k), v] for k, v in s["row"].items() if got.get(k) != v}
        if got["_hoodie_commit_time"] != s["commit_time"]:
            diffs["_hoodie_commit_time"] = [got["_hoodie_commit_time"], s["commit_time"]]
        if got["_hoodie_partition_path"] != s["partition_path"]:
            diffs["_hoodie_partition_path"] = [got["_hoodie_partition_path"], s["partition_path"]]
        if diffs:
            sample_mismatches.append({"id": s["id"], "diffs": diffs})
    if sample_mismatches:
        ok = False

    # --- incremental, commit by commit
    def incremental(start, end):
        opts = (HudiReadOptions().with_query_type(HudiQueryType.Incremental)
                .with_start_timestamp(start).with_end_timestamp(end))
        t = read(table, opts)
        if t is None:
            return [], []
        return t.column("id").to_pylist(), t.column("_hoodie_commit_time").to_pylist()

    windows = []
    prev = "0" * 17
    for c in commits:
        end = c["completion"] or c["instant"]
        ids, times = incremental(prev, end)
        expected = [i for a, b in c["inserted"] for i in range(a, b)] + c["updated"]
        w = {
            "version": c["version"], "start": prev, "end": end,
            "rows": len(ids), "expected": len(expected),
            "duplicates": len(ids) - len(set(ids)),
            "wrong_commit_time": sum(1 for t in times if t != c["instant"]),
            **compare_ids(ids, expected),
        }
        if (w["rows"] != w["expected"] or w["duplicates"] or w["wrong_commit_time"]
                or w["missing_count"] or w["unexpected_count"]):
            ok = False
        windows.append(w)
        prev = end

    # --- cumulative window over every commit after the first: latest state of changed keys
    cumulative = None
    if len(commits) > 1:
        start = commits[0]["completion"] or commits[0]["instant"]
        end = commits[-1]["completion"] or commits[-1]["instant"]
        ids, times = incremental(start, end)
        expected = {i: v for i, v in state.items() if v >= 1}
        wrong = sum(1 for i, t in zip(ids, times) if i in expected and t != instants[expected[i]])
        cumulative = {"start": start, "end": end, "rows": len(ids), "expected": len(expected),
                      "wrong_commit_time": wrong, **compare_ids(ids, expected.keys())}
        if (cumulative["rows"] != len(expected) or wrong or cumulative["missing_count"]
                or cumulative["unexpected_count"]):
            ok = False

    print(json.dumps({
        "ok": ok,
        "table_type": table.table_type,
        "schema": schema,
        "snapshot": snapshot,
        "samples": {"checked": len(manifest["samples"]), "mismatches": sample_mismatches[:LIMIT]},
        "incremental": windows,
        "cumulative": cumulative,
    }))


if __name__ == "__main__":
    main()
