#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The documents against the tree:
- the README opens with its title and then exactly the two set-up commands;
- the README's C example is examples/readme.c, which the suite builds and runs;
- every table in README.md and docs/*.md fits 100 columns;
- every docs/NAME.md that code, headers, tests or man pages cite exists, a
  file that cites table rows ("MAP row 7") names docs/uapi.md, and nothing
  cites files outside the repository.
Usage: docs_check.py SRCDIR"""
import os, re, sys

src = sys.argv[1]
fails = []
readme = open(os.path.join(src, "README.md")).read()

lines = readme.split("\n")
opening = [l for l in lines[:6]]
want_cmds = ["make run", "make check"]
try:
    start = opening.index("```sh")
    cmds = [l.split("#")[0].strip() for l in lines[start + 1:start + 3]]
    if lines[0] != "# softvfio" or cmds != want_cmds or lines[start + 3] != "```":
        raise ValueError
    if any(l.strip() for l in lines[1:start]):
        raise ValueError
except ValueError:
    fails.append("README.md must open with '# softvfio' and a block of exactly "
                 "'make run' and 'make check'")

m = re.search(r"```c\n(.*?)```", readme, re.S)
example = open(os.path.join(src, "examples", "readme.c")).read().split("\n")
body = "\n".join(example[2:]).rstrip("\n") + "\n"
if not m or m.group(1) != body:
    fails.append("README.md's C example differs from examples/readme.c (after its first two lines)")

docs = [os.path.join(src, "README.md")] + [
    os.path.join(src, "docs", f) for f in sorted(os.listdir(os.path.join(src, "docs")))
    if f.endswith(".md")]
for path in docs:
    for n, l in enumerate(open(path), 1):
        if l.startswith("|") and len(l.rstrip("\n")) > 100:
            fails.append("%s:%d: a table row of %d columns (at most 100)"
                         % (os.path.relpath(path, src), n, len(l.rstrip("\n"))))

outside = re.compile(r"shared/spec|shared/design|conventions\.md|the seed\b|[Ii]ssue \d")
for top in ("src", "tools", "tests", "include", "man", "examples"):
    for dirpath, _, files in os.walk(os.path.join(src, top)):
        for f in files:
            if not f.endswith((".c", ".h", ".sh", ".py", ".build", ".map", ".trace",
                               ".1", ".3")) or f == "docs_check.py":
                continue
            path = os.path.join(dirpath, f)
            text = open(path, errors="replace").read()
            rel = os.path.relpath(path, src)
            for d in set(re.findall(r"docs/([A-Za-z0-9_.-]+\.md)", text)):
                if not os.path.exists(os.path.join(src, "docs", d)):
                    fails.append("%s cites docs/%s, which does not exist" % (rel, d))
            if re.search(r"\b[Rr]ows? \d", text) and "docs/uapi.md" not in text:
                fails.append("%s cites table rows without naming docs/uapi.md" % rel)
            for hit in set(outside.findall(text)):
                fails.append("%s cites '%s' (outside the repository, or a word a reader cannot decode)"
                             % (rel, hit))

for f in fails:
    print("FAIL:", f)
if fails:
    sys.exit(1)
print("README opening, README example, %d documents' tables and the citations are fine" % len(docs))
