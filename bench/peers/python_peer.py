"""Peer (a): what a Python user would write today.

The `hudi` PyPI package (hudi-rs) reads the window incrementally, psycopg writes the rows into
the landing table with a binary COPY (row by row, typed), then the loader's own dedup +
version-guarded upsert statement runs, in the same transaction.

Usage: python_peer.py <job.json>   (written by `hps-bench run`); prints one JSON line.
The clock starts after the imports (interpreter start-up is not charged).
"""

import common

job = common.load_job()

import psycopg  # noqa: E402
from hudi import HudiQueryType, HudiReadOptions, HudiTable  # noqa: E402

clock = common.Clock()
opts = (
    HudiReadOptions()
    .with_query_type(HudiQueryType.Incremental)
    .with_start_timestamp(job["start"])
    .with_end_timestamp(job["end"])
)
batches = HudiTable(job["table"]).read(opts)
clock.mark("read")

columns = job["columns"]
names = [c[0] for c in columns]
# psycopg's binary dumpers are chosen by type name; drop type modifiers ("numeric(18,4)")
types = [c[1].split("(")[0] for c in columns]
col_list = ", ".join('"' + n.replace('"', '""') + '"' for n in names)
load_id = job["load_id"]

rows = 0
with psycopg.connect(job["dsn"]) as conn:
    with conn.cursor() as cur:
        with cur.copy(f"COPY {job['landing']} ({col_list}) FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(types)
            for b in batches:
                n = b.num_rows
                if n == 0:
                    continue
                have = set(b.schema.names)
                lists = []
                for name in names:
                    if name == "_hps_load_seq":
                        lists.append([1] * n)
                    elif name == "_hps_load_id":
                        lists.append([load_id] * n)
                    elif name == "_hps_row":
                        lists.append(range(rows + 1, rows + n + 1))
                    elif name == "_hps_op":
                        lists.append(["upsert"] * n)
                    elif name == "_hps_seqno_key":
                        lists.append([common.seqno_key(s) for s in b.column("_hoodie_commit_seqno").to_pylist()])
                    elif name in have:
                        lists.append(b.column(name).to_pylist())
                    else:
                        lists.append([None] * n)
                for row in zip(*lists):
                    cp.write_row(row)
                rows += n
        clock.mark("copy")
        # the load id is the statement's only parameter ($1); the harness's ids are plain words
        cur.execute(job["merge_sql"].replace("$1", "'" + load_id.replace("'", "''") + "'"))
        result = cur.fetchone()
    conn.commit()
clock.mark("merge")
clock.done(rows, merge=list(result))
