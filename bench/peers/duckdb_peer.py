"""Peer (b): DuckDB reading the changed parquet files and writing through its postgres
extension, then the loader's own dedup + version-guarded upsert statement.

The extension comes from the `duckdb-ext-postgres` PyPI package and is loaded by path: nothing
is downloaded at run time. The job names the changed base files of the window and the commit
times it admits (what a user would take from the Hudi commit metadata).

Usage: duckdb_peer.py <job.json>   (written by `hps-bench run`); prints one JSON line.
The clock starts after the imports (interpreter start-up is not charged).
"""

import glob
import importlib.util
import os

import common

job = common.load_job()

import duckdb  # noqa: E402


def extension_path():
    spec = importlib.util.find_spec("duckdb_ext")
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        hits = glob.glob(os.path.join(root, "extensions", f"v{duckdb.__version__}", "*", "postgres_scanner.duckdb_extension"))
        if hits:
            return hits[0]
    raise SystemExit(f"postgres_scanner extension for duckdb {duckdb.__version__} not installed (pip install duckdb-ext-postgres)")


def q(name):
    return '"' + name.replace('"', '""') + '"'


def lit(s):
    return "'" + s.replace("'", "''") + "'"


clock = common.Clock()
con = duckdb.connect(config={"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
con.execute(f"LOAD {lit(extension_path())}")
con.execute(f"ATTACH {lit(job['dsn'])} AS pg (TYPE postgres)")
clock.mark("attach")

seq = "_hoodie_commit_seqno"
m = f"regexp_extract({seq}, '^(.*)_([0-9]+)_([0-9]+)$', ['i', 'p', 's'])"
seqno_key = (
    f"CASE WHEN regexp_matches({seq}, '^.*_[0-9]{{1,20}}_[0-9]{{1,20}}$') "
    f"THEN {m}.i || '_' || lpad({m}.p, 20, '0') || '_' || lpad({m}.s, 20, '0') ELSE {seq} END"
)
load_id = job["load_id"]
select = []
names = [c[0] for c in job["columns"]]
file_cols = set(r[0] for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [job["files"][:1]]).fetchall())
for name in names:
    if name == "_hps_load_seq":
        select.append("1::BIGINT")
    elif name == "_hps_load_id":
        select.append(lit(load_id))
    elif name == "_hps_row":
        select.append("row_number() OVER ()")
    elif name == "_hps_op":
        select.append("'upsert'")
    elif name == "_hps_seqno_key":
        select.append(seqno_key)
    elif name in file_cols:
        select.append(q(name))
    else:
        select.append("NULL")
times = ", ".join(lit(t) for t in job["commit_times"])
schema, table = job["landing_schema"], job["landing_table"]
con.execute("BEGIN")
rows = con.execute(
    f"INSERT INTO pg.{q(schema)}.{q(table)} ({', '.join(q(n) for n in names)}) "
    f"SELECT {', '.join(select)} FROM read_parquet(?) WHERE _hoodie_commit_time IN ({times})",
    [job["files"]],
).fetchone()[0]
clock.mark("copy")
merge = job["merge_sql"].replace("$1", lit(load_id))
con.execute("CALL postgres_execute('pg', ?)", [merge])
con.execute("COMMIT")
clock.mark("merge")
clock.done(rows)
