"""Oracle: the latest snapshot of a Hudi table, read with the `hudi` PyPI package (hudi-rs).

Usage: snapshot_versions.py <table base path> <key column>
Prints one JSON object: {"<key>": ["<_hoodie_commit_time>", "<_hoodie_commit_seqno>"], ...}
(one entry per live row) or {"error": "..."} when the table cannot be read. A table without
any completed commit reads as {}.

Used by the Lambda end-to-end test to compare the staging table with what Hudi itself says
the table holds after each uploaded instant.
"""

import json
import sys

from hudi import HudiQueryType, HudiReadOptions, HudiTable


def main():
    path, key = sys.argv[1], sys.argv[2]
    try:
        opts = HudiReadOptions().with_query_type(HudiQueryType.Snapshot)
        batches = HudiTable(path).read(opts)
    except Exception as e:  # the caller reports it
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
        return
    out = {}
    for b in batches:
        d = b.to_pydict()
        for k, t, s in zip(d[key], d["_hoodie_commit_time"], d["_hoodie_commit_seqno"]):
            k = str(k)
            if k in out:
                print(json.dumps({"error": f"key {k} appears twice in the snapshot"}))
                return
            out[k] = [t, s]
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
