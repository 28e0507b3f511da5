#!/usr/bin/env python3
"""Lists import cycles between the files of src/: `scripts/import-cycles.py [src]`. Exits 1
when there is any.

Every file is a module (`a/b.rs` and `a/b/mod.rs` are `a::b`; a `#[path]` file is the module
its parent names). An import is any path in the code (comments stripped) that starts with
`crate::`, `super::` or `self::`, or a `use` of a sibling through `super`; it is resolved to
the deepest module that is a file. A module's edges to its own descendants are not imports:
a parent declares its children (`mod x; pub use x::Y`), and a child that implements its
parent's type (`impl super::Processor`) is part of it. Everything else counts, across
folders too: `domain` must not reach `kafka`, `kafka::commit` must not reach back into
`kafka::processor`, and so on."""
import os
import re
import sys


def modules(src):
    """Module path (tuple) -> file, from the tree and the `#[path]` attributes."""
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            mods[tuple(rel)] = os.path.join(root, f)
    # `#[path = "x.rs"] mod y;` inside module m: the file x.rs is module m::y.
    for m, path in list(mods.items()):
        text = open(path, encoding="utf-8").read()
        for target, name in re.findall(r'#\[path\s*=\s*"([^"]+)"\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)', text):
            file = os.path.normpath(os.path.join(os.path.dirname(path), target))
            for k, v in list(mods.items()):
                if os.path.normpath(v) == file:
                    del mods[k]
            mods[m + (name,)] = file
    return mods


def imports(m, path, mods):
    text = open(path, encoding="utf-8").read()
    code = "\n".join(l.split("//")[0] for l in text.splitlines())
    # A test module's imports are the tests' business.
    code = code.split("#[cfg(test)]\nmod tests {")[0]
    found = set()
    for p in re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", code):
        parts = p.split("::")
        if parts[0] == "crate":
            base, rest = [], parts[1:]
        else:
            base = list(m)
            rest = parts
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    base = base[:-1]
                rest = rest[1:]
        # The deepest module that is a file.
        target = None
        for i in range(len(rest), -1, -1):
            cand = tuple(base + rest[:i])
            if cand in mods:
                target = cand
                break
        if target is not None and target != m and target[: len(m)] != m:
            found.add(target)
    return found


def cycles(src):
    mods = modules(src)
    uses = {m: imports(m, p, mods) for m, p in mods.items()}
    name = lambda m: "::".join(m) or "crate"
    found = {}
    def walk(start, node, path):
        for n in uses[node]:
            if n == start:
                key = frozenset(path)
                found.setdefault(key, " -> ".join(name(x) for x in path + [start]))
            elif n not in path and len(path) < 8:
                walk(start, n, path + [n])
    for m in sorted(mods):
        walk(m, m, [m])
    return sorted(found.values())


found = cycles(sys.argv[1] if len(sys.argv) > 1 else "src")
for c in found:
    print(c)
sys.exit(1 if found else 0)
