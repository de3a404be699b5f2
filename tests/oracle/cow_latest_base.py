#!/usr/bin/env python3
"""Independent oracle for a copy-on-write table that no Hudi library reads (e.g. table
version 3): the rows of the newest *committed* base file of every file group, read with
pyarrow from the table's own files.

A base file `<fileId>_<writeToken>_<instant>.parquet` counts when `.hoodie/<instant>.commit`
exists (a completed commit on the layout-1 timeline); of a file group's counted files the one
with the largest instant is its latest slice. Tables with replacecommits or archived commits
are out of scope (the script refuses them).

Output: one line per row, sorted: `<partition path>\t<record key>\t<commit time>`.
Usage: cow_latest_base.py <table dir>
"""
import os
import sys

import pyarrow.parquet as pq


def main(table):
    hoodie = os.path.join(table, ".hoodie")
    names = os.listdir(hoodie)
    archived = os.path.join(hoodie, "archived")
    if any(n.endswith(".replacecommit") for n in names):
        sys.exit("replacecommits: out of this oracle's scope")
    if os.path.isdir(archived) and os.listdir(archived):
        sys.exit("archived commits: out of this oracle's scope")
    committed = {n[: -len(".commit")] for n in names if n.endswith(".commit")}
    latest = {}
    for root, dirs, files in os.walk(table):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for f in files:
            if not f.endswith(".parquet") or f.startswith("."):
                continue
            stem = f[: -len(".parquet")]
            file_id, _token, instant = stem.split("_")
            if instant not in committed:
                continue
            part = os.path.relpath(root, table)
            key = (part, file_id)
            if key not in latest or latest[key][0] < instant:
                latest[key] = (instant, os.path.join(root, f))
    out = []
    for _, path in latest.values():
        t = pq.read_table(path, columns=["_hoodie_partition_path", "_hoodie_record_key", "_hoodie_commit_time"])
        for p, k, c in zip(*(t.column(i).to_pylist() for i in range(3))):
            out.append(f"{p}\t{k}\t{c}")
    print("\n".join(sorted(out)))


if __name__ == "__main__":
    main(sys.argv[1])
