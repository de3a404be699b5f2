#!/usr/bin/env python3
"""The length of every Rust function in the workspace, outside tests.

Usage: scripts/fn-lengths.py [--max N] [--top K] [paths...]

Prints the K longest functions (lines from the `fn` line to its closing brace) and a summary
(count, median, how many exceed 100 and 200 lines). With --max N it exits 1 when a function
outside tests is longer than N lines, naming it. Tests are left out: `tests/` directories,
`tests.rs` and `*_tests.rs` files and `#[cfg(test)]` modules.

The scanner understands enough Rust for this: line and block comments, string, raw string,
byte and char literals (told apart from lifetimes), and braces.
"""

import argparse
import os
import re
import statistics
import sys

FN_RE = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def strip_code(src):
    """The source with comments and literals blanked (newlines kept), so braces can be counted."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        nxt = src[i + 1] if i + 1 < n else ""
        if c == "/" and nxt == "/":
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c == "/" and nxt == "*":
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(blank(src[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', src[i:i + 10]) and not is_ident_char(src, i - 1):
            hashes = re.match(r"r(#*)\"", src[i:]).group(1)
            end = src.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            out.append(blank(src[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and src[j] != '"':
                j += 2 if src[j] == "\\" else 1
            out.append(blank(src[i:j + 1]))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\.[^']*|[^\\'])'", src[i:i + 12])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:  # a lifetime or label
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def is_ident_char(s, i):
    return i >= 0 and (s[i].isalnum() or s[i] == "_")


def blank(text):
    return "".join("\n" if ch == "\n" else " " for ch in text)


def test_ranges(code):
    """Line ranges of `#[cfg(test)]` items (modules or functions)."""
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]", code):
        start = code.find("{", m.end())
        semi = code.find(";", m.end())
        if start < 0 or (0 <= semi < start):
            continue
        end = match_brace(code, start)
        ranges.append((line_of(code, m.start()), line_of(code, end)))
    return ranges


def match_brace(code, open_at):
    depth = 0
    for j in range(open_at, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def line_of(code, pos):
    return code.count("\n", 0, pos) + 1


def functions(path):
    with open(path, encoding="utf-8") as f:
        code = strip_code(f.read())
    skip = test_ranges(code)
    for m in FN_RE.finditer(code):
        body = code.find("{", m.end())
        semi = code.find(";", m.end())
        if body < 0 or (0 <= semi < body):
            continue  # a declaration without a body (trait method, extern)
        first = line_of(code, m.start())
        if any(a <= first <= b for a, b in skip):
            continue
        last = line_of(code, match_brace(code, body))
        yield m.group(1), first, last - first + 1


def rust_files(roots):
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs[:] = [x for x in dirs if x not in ("target", "tests", ".git", ".venv")]
            for f in files:
                if f.endswith(".rs") and not (f.endswith("_tests.rs") or f == "tests.rs"):
                    yield os.path.join(d, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max", type=int, help="fail when a function is longer than this")
    ap.add_argument("--top", type=int, default=15, help="how many of the longest to print")
    ap.add_argument("paths", nargs="*", default=["shared", "functions", "bench/src"])
    a = ap.parse_args()
    rows = [(n, name, path, line) for path in sorted(rust_files(a.paths))
            for name, line, n in functions(path)]
    if not rows:
        print("no functions found", file=sys.stderr)
        return 2
    rows.sort(key=lambda r: -r[0])
    for n, name, path, line in rows[:a.top]:
        print(f"{n:5} {path}:{line} {name}")
    lengths = [r[0] for r in rows]
    print(f"{len(rows)} functions, median {statistics.median(lengths):g} lines, "
          f"{sum(x > 100 for x in lengths)} over 100, {sum(x > 200 for x in lengths)} over 200, "
          f"longest {lengths[0]}")
    if a.max is not None:
        over = [r for r in rows if r[0] > a.max]
        for n, name, path, line in over:
            print(f"over {a.max}: {path}:{line} {name} ({n} lines)", file=sys.stderr)
        return 1 if over else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
