#!/usr/bin/env python3
"""Writes the notices of the Rust crates compiled into the npm package's .wasm.

Usage: python3 npm/licenses.py OUT_FILE

Lists every crate of `cargo tree -p lightstream-wasm --target
wasm32-unknown-unknown -e normal` (proc-macros excluded: they run at build time
and are not in the .wasm) with its version and license expression, followed by
the license files each crate ships (LICENSE*, COPYING*, NOTICE*), taken from
the crate sources cargo downloaded. npm/build.sh runs it.
"""
import json
import pathlib
import subprocess
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[1])
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--filter-platform",
             "wasm32-unknown-unknown"],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    tree = subprocess.run(
        ["cargo", "tree", "-p", "lightstream-wasm", "--target", "wasm32-unknown-unknown",
         "-e", "normal", "--prefix", "none", "-f", "{p}"],
        check=True, capture_output=True, text=True,
    ).stdout
    wanted = set()
    for line in tree.splitlines():
        parts = line.split()
        if len(parts) >= 2 and "(proc-macro)" not in line:
            wanted.add((parts[0], parts[1].lstrip("v")))
    packages = {(p["name"], p["version"]): p for p in meta["packages"]}
    lines = [
        "Rust crates compiled into lightstream_wasm_bg.wasm",
        "=================================================",
        "",
        "The .wasm of this package contains code from the crates below. Each is",
        "listed with its license; the license files the crate ships follow.",
        "",
    ]
    texts = []
    for key in sorted(wanted):
        p = packages.get(key)
        if p is None:
            print(f"licenses.py: {key} not in cargo metadata", file=sys.stderr)
            return 1
        lines.append(f"- {p['name']} {p['version']}: {p.get('license') or 'see its files'}")
        if p["source"] is None:  # our own crates: MIT, see LICENSE
            continue
        root = pathlib.Path(p["manifest_path"]).parent
        for f in sorted(root.iterdir()):
            if f.is_file() and f.name.upper().startswith(("LICENSE", "COPYING", "NOTICE")):
                body = f.read_text(encoding="utf-8", errors="replace").strip()
                texts.append(f"\n\n----- {p['name']} {p['version']}: {f.name} -----\n\n{body}\n")
    out.write_text("\n".join(lines) + "".join(texts) + "\n", encoding="utf-8")
    print(f"licenses.py: {len(wanted)} crates -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
