#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The shared library exports exactly the public API.

    check_exports.py NM INCLUDE_DIR VERSION_MAP LIBSOFTVFIO_SO

Three lists must be equal: the functions declared in the public headers
(INCLUDE_DIR/softvfio/*.h), the names the version map makes global, and the
functions the built shared library exports. A test-only call declared in a
public header, a public function missing from the map, or a wildcard that
exports more fail it. Prints the differences; exit status 1 when any.
"""
import glob
import os
import re
import subprocess
import sys


def header_functions(include_dir):
    names = set()
    decl = re.compile(r"^(?!static|typedef|#|\s|/|\*)[^;{}()]*?\b((?:svf|softvfio)_\w+)\s*\(", re.M)
    for h in glob.glob(os.path.join(include_dir, "softvfio", "*.h")):
        text = open(h).read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)  # comments
        names.update(m.group(1) for m in decl.finditer(text))
    return names


def map_globals(path):
    text = re.sub(r"/\*.*?\*/", "", open(path).read(), flags=re.S)
    m = re.search(r"global:(.*?)local:", text, re.S)
    if not m:
        sys.exit(f"{path}: no global: ... local: section")
    names = set(re.findall(r"[\w*?]+", m.group(1)))
    wild = [n for n in names if "*" in n or "?" in n]
    if wild:
        print(f"version map uses wildcards: {' '.join(sorted(wild))}")
    return names, bool(wild)


def exported(nm, lib):
    out = subprocess.run([nm, "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    return {f[2].split("@")[0] for f in (l.split() for l in out.splitlines())
            if len(f) == 3 and f[1] in "TtWiDB" and not f[2].startswith("SOFTVFIO_")}


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    nm, inc, vmap, lib = sys.argv[1:]
    decl = header_functions(inc)
    glob_names, bad = map_globals(vmap)
    exp = exported(nm, lib)
    for what, a, b in (("declared in a public header but not in the map", decl, glob_names),
                       ("in the map but not declared in a public header", glob_names, decl),
                       ("declared in a public header but not exported", decl, exp),
                       ("exported but not declared in a public header", exp, decl)):
        diff = sorted(a - b)
        if diff:
            bad = True
            print(f"{what}: {' '.join(diff)}")
    print(f"{len(decl)} public functions, {len(glob_names)} in the map, {len(exp)} exported")
    sys.exit(1 if bad else 0)


main()
