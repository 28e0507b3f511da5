#!/usr/bin/env python3
"""Lists import cycles between the files of one module folder of src/ (`use super::x` and
`super::x::` paths), e.g. `scripts/import-cycles.py src/kafka src/domain`. Exits 1 when a
folder has any. A file's own mod.rs is not counted (it declares the modules)."""
import os
import re
import sys


def cycles(folder):
    mods = {f[:-3] for f in os.listdir(folder) if f.endswith(".rs") and f != "mod.rs"}
    uses = {}
    for m in mods:
        text = open(os.path.join(folder, m + ".rs"), encoding="utf-8").read()
        # Comments and doc links are not imports.
        code = "\n".join(l.split("//")[0] for l in text.splitlines())
        uses[m] = {x for x in re.findall(r"super::(\w+)", code) if x in mods and x != m}
    found = set()

    def walk(start, node, path):
        for n in uses[node]:
            if n == start:
                found.add(" -> ".join(path + [start]))
            elif n not in path and len(path) < 8:
                walk(start, n, path + [n])

    for m in sorted(mods):
        walk(m, m, [m])
    # One line per cycle, whichever file it starts from.
    unique = {}
    for c in sorted(found):
        key = frozenset(c.split(" -> "))
        unique.setdefault(key, c)
    return sorted(unique.values())


status = 0
for folder in sys.argv[1:] or ["src/kafka", "src/domain"]:
    for c in cycles(folder):
        print(f"{folder}: {c}")
        status = 1
sys.exit(status)
