#!/usr/bin/env python3
"""Checks the collector's structure against its module map.

The module map is the numbered list under "## Module map" in collector/src/lib.rs: every
module of the crate, bottom up. This script reads the real imports of every file (its
`use` items and every `crate::`, `super::`, `self::` and child-module path in its code,
comments, strings and test modules left out) and fails on:

- an import that runs up the map: a file may name only modules listed before it (lib.rs,
  the crate root, is last), so no two files can import each other;
- a module file the map does not list, or a map entry with no file;
- a `std::sync` or `std::thread` path outside `sync.rs`, the shim (what loom must not see
  goes through the shim's `unmodelled` submodule);
- a file over FILE_LINES lines or a function over FN_LINES lines, unless LONG_ALLOWED
  names it with the reason;
- a module file (lib.rs, the crate root, excepted) whose first `//!` block (the doc
  comment lines at the top of the file) states no invariant: it must contain
  "Invariant:" or "Invariants:" (case-sensitive), the project's rule "one file per
  mechanism, its invariant at the top".

Unit-test modules (`#[cfg(test)]`-gated `mod x;` files and inline `mod tests { .. }`
blocks) may import anything and are not checked. Exit status 1 and one line per finding
when anything is wrong; 0 and a summary line otherwise.

Usage: scripts/check-structure.py [SRC_DIR]   (default: collector/src)
"""

import os
import re
import sys

FILE_LINES = 600
FN_LINES = 80
# "path" or "path:function" -> why it may be longer.
LONG_ALLOWED = {
    "gctrace.rs:parse_gctrace_line": "one field of Go's gctrace line after another, in "
    "the line's order; splitting it would scatter the format",
}

MAP_HEADING = "## Module map"
# What a module's header must contain: the paragraph that states its invariant.
INVARIANT = re.compile(r"\bInvariants?:")


def strip_code(text):
    """The text with comments, string and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"' or (c == "r" and re.match(r'r#*"', text[i:i + 4]) and not text[i - 1:i].isalnum()):
            m = re.match(r'r(#*)"', text[i:]) if c == "r" else None
            if m:
                end = '"' + m.group(1)
                j = text.find(end, i + len(m.group(0)))
                j = n if j < 0 else j + len(end)
            else:
                j = i + 1
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\u{", i):
            j = text.find("'", i + 1) + 1
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def block_end(code, start):
    """The index just past the brace block that opens at or after `start`."""
    depth = 0
    i = code.index("{", start)
    while i < len(code):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return len(code)


TEST_CFG = re.compile(r"#\[cfg\([^\]]*\btest\b[^\]]*\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])")
MOD_DECL = re.compile(r"^\s*(#\[[^\]]*\]\s*)*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)


def without_tests(code):
    """`code` with inline test modules blanked; also the names of test-module files."""
    test_files = set()
    while True:
        m = TEST_CFG.search(code)
        if not m:
            return code, test_files
        if m.group(4) == ";":
            test_files.add(m.group(3))
            end = m.end()
        else:
            end = block_end(code, m.start(4))
        code = code[: m.start()] + re.sub(r"[^\n]", " ", code[m.start():end]) + code[end:]


def module_files(src):
    """{module path: file} for every file reachable from lib.rs; test-module files left out."""
    found = {}

    def visit(path, rel):
        code, tests = without_tests(strip_code(open(rel).read()))
        found[path] = rel
        base = os.path.dirname(rel) if rel.endswith(("mod.rs", "lib.rs")) else rel[:-3]
        for m in MOD_DECL.finditer(code):
            name = m.group(4)
            if name in tests:
                continue
            for cand in (os.path.join(base, name + ".rs"), os.path.join(base, name, "mod.rs")):
                if os.path.exists(cand):
                    visit(path + ("::" if path else "") + name, cand)
                    break

    visit("", os.path.join(src, "lib.rs"))
    return found


def expand_use(tree):
    """The paths a `use` tree names: `a::{b, c::{d, e}}` -> a::b, a::c::d, a::c::e."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [re.sub(r"as\w+$", "", tree)] if "::" in tree else [tree]
    prefix, inner = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [p2 for p in parts if p for p2 in expand_use(prefix + p)]


def resolve(path, here, modules):
    """The module a path names (its longest module prefix), or None for other crates."""
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    cur = here.split("::") if here else []
    if segs[0] == "crate":
        base, segs = [], segs[1:]
    elif segs[0] in ("super", "self"):
        base = list(cur)
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    elif "::".join(cur + [segs[0]]) in modules:
        base = list(cur)
    else:
        return None
    best = "::".join(base)
    for i in range(len(segs)):
        cand = "::".join(base + segs[: i + 1])
        if cand in modules:
            best = cand
        else:
            break
    return best


def inline_modules(code):
    """(start, end, name) of every inline `mod name { .. }` block in `code`."""
    found = []
    for m in re.finditer(r"\bmod\s+(\w+)\s*\{", code):
        found.append((m.start(), block_end(code, m.end() - 1), m.group(1)))
    return found


def module_at(mod, blocks, pos):
    """The module a position of the file is in: the file's, or an inline one inside it."""
    path = mod.split("::") if mod else []
    for start, end, name in blocks:
        if start <= pos < end:
            path.append(name)
    return "::".join(path)


def imports_of(mod, rel, modules):
    """(modules named, std paths named) by the non-test code of one file."""
    code, _ = without_tests(strip_code(open(rel).read()))
    blocks = inline_modules(code)
    named, std = set(), []
    for m in re.finditer(r"\buse\s+([^;]+);", code):
        for p in expand_use(m.group(1)):
            target = resolve(p, module_at(mod, blocks, m.start()), modules)
            if target is not None:
                named.add(target)
    children = [k.split("::")[-1] for k in modules if k.startswith(mod + "::" if mod else "") and k.count("::") == (mod.count("::") + 1 if mod else 0)]
    heads = ["crate", "super", "self"] + children
    for m in re.finditer(r"(?<![\w:])((?:%s)(?:::\w+)+)" % "|".join(heads), code):
        target = resolve(m.group(1), module_at(mod, blocks, m.start()), modules)
        if target is not None:
            named.add(target)
    for m in re.finditer(r"\bstd::(sync|thread)\b", code):
        std.append(code.count("\n", 0, m.start()) + 1)
    named.discard(mod)
    return named, std


def read_map(lib_rs):
    """The module map's entries, bottom up, from lib.rs's doc comment: the numbered
    items under MAP_HEADING, each listing modules in backticks before its " — "."""
    items, in_map = [], False
    for line in open(lib_rs):
        if not line.startswith("//!"):
            if in_map:
                break
            continue
        text = line[3:].strip()
        if text.startswith("## "):
            in_map = text == MAP_HEADING
        elif in_map and re.match(r"^\d+\.", text):
            items.append(text)
        elif in_map and text and items and line[3:].startswith("    "):
            items[-1] += " " + text
        elif in_map:
            items.append("")
    order = []
    for item in items:
        order.extend(re.findall(r"`([\w:]+)`", item.split(" — ")[0]))
    return order


def long_items(rel, shown):
    """Findings for a file or function over its line limit."""
    text = open(rel).read()
    findings = []
    lines = text.count("\n")
    if lines > FILE_LINES and shown not in LONG_ALLOWED:
        findings.append(f"{shown}: {lines} lines (limit {FILE_LINES})")
    code = strip_code(text)
    for m in re.finditer(r"\bfn\s+(\w+)[^;{]*\{", code):
        end = block_end(code, m.end() - 1)
        span = code.count("\n", m.start(), end) + 1
        key = f"{shown}:{m.group(1)}"
        if span > FN_LINES and key not in LONG_ALLOWED:
            line = code.count("\n", 0, m.start()) + 1
            findings.append(f"{shown}:{line}: fn {m.group(1)} is {span} lines (limit {FN_LINES})")
    return findings


def header_of(rel):
    """The file's first `//!` block: its leading `//!` lines (blank lines before it skipped)."""
    block = []
    for line in open(rel):
        if line.startswith("//!"):
            block.append(line[3:])
        elif block or line.strip():
            break
    return "".join(block)


def invariant_finding(rel, shown):
    """A finding if the module's header states no invariant, else None."""
    header = header_of(rel)
    if not header:
        return f"{shown}: no `//!` header (it must state the file's invariant: \"Invariant:\")"
    if not INVARIANT.search(header):
        return f"{shown}: its `//!` header states no invariant (no \"Invariant:\" or \"Invariants:\")"
    return None


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else "collector/src"
    modules = module_files(src)
    order = read_map(os.path.join(src, "lib.rs"))
    rank = {m: i for i, m in enumerate(order)}
    rank[""] = len(order)
    findings = []
    for m in order:
        if m not in modules:
            findings.append(f"module map: `{m}` names no module file")
    for mod, rel in sorted(modules.items()):
        shown = os.path.relpath(rel, src)
        if mod and mod not in rank:
            findings.append(f"{shown}: module `{mod}` is missing from the module map in lib.rs")
            continue
        named, std = imports_of(mod, rel, modules)
        for target in sorted(named):
            if target in rank and rank[target] > rank[mod]:
                what = "the crate root (lib.rs)" if target == "" else f"`{target}`"
                findings.append(f"{shown}: imports {what}, which the module map puts above `{mod or 'lib'}`")
        if mod != "sync":
            for line in sorted(set(std)):
                findings.append(f"{shown}:{line}: names std::sync or std::thread outside the shim (use crate::sync)")
        findings.extend(long_items(rel, shown))
        if mod:
            missing = invariant_finding(rel, shown)
            if missing:
                findings.append(missing)
    for f in findings:
        print(f"check-structure: {f}")
    if findings:
        print(f"check-structure: {len(findings)} finding(s)")
        return 1
    print(f"check-structure: {len(modules)} modules in map order, no upward import, "
          f"no std::sync/std::thread outside the shim, no file over {FILE_LINES} lines, "
          f"no function over {FN_LINES} lines but the {len(LONG_ALLOWED)} listed in LONG_ALLOWED, "
          f"an invariant in every module's header")
    return 0


if __name__ == "__main__":
    sys.exit(main())
