"""Shared by the peer scripts: the job file the harness writes, and the result line."""

import json
import re
import sys
import time

SEQNO = re.compile(r"^(.*)_([0-9]+)_([0-9]+)$")


def load_job():
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} <job.json>")
    with open(sys.argv[1]) as f:
        return json.load(f)


def seqno_key(s):
    """The loader's order-preserving seqno key (hps_postgres::seqno_key): both numbers of
    `<instant>_<task>_<index>` zero-padded to 20 digits; anything else verbatim."""
    if s is None:
        return None
    m = SEQNO.match(s)
    if not m or len(m.group(2).lstrip("0")) > 20 or len(m.group(3).lstrip("0")) > 20:
        return s
    return f"{m.group(1)}_{m.group(2).lstrip('0'):0>20}_{m.group(3).lstrip('0'):0>20}"


def peak_rss():
    """This process's peak RSS (VmHWM), bytes."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class Clock:
    def __init__(self):
        self.t0 = time.perf_counter()
        self.marks = {}

    def mark(self, name):
        self.marks[name] = round(time.perf_counter() - self.t0, 4)

    def done(self, rows, **extra):
        out = {"rows": rows, "elapsed_s": round(time.perf_counter() - self.t0, 4), "marks": self.marks,
               "peak_rss": peak_rss()}
        out.update(extra)
        print(json.dumps(out), flush=True)
