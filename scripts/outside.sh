#!/usr/bin/env bash
# The README's Rust quick starts, built and run in a new Cargo project
# outside the workspace, the way a new user would: a rust-toolchain.toml and
# the [dependencies] lines copied from README.md (the git dependency becomes a
# path to this clone, since CI builds the commit under test), the two `rust`
# blocks as two binaries, versions resolved afresh from crates.io (no
# workspace lock), and no warning allowed from a Lightstream crate.
#
# Usage: bash scripts/outside.sh [DIR]   (default: a new temporary directory)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=${1:-$(mktemp -d -t lightstream-outside-XXXXXX)}
mkdir -p "$dir"
# The workspace's own target directory: dependencies whose version, features
# and flags match what the workspace built are not compiled again (cargo keys
# every artefact by all of those, so nothing is mixed up).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"

python3 - "$repo" "$dir" <<'PY'
import pathlib, re, sys
repo, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
readme = (repo / "README.md").read_text()

def section(title):
    m = re.search(r"^## " + re.escape(title) + r".*?$(.*?)(?=^## )", readme, re.S | re.M)
    if not m:
        sys.exit(f"outside.sh: README.md has no section '## {title}'")
    return m.group(1)

def blocks(text, lang):
    return re.findall(r"^```" + lang + r"\n(.*?)^```", text, re.S | re.M)

core, native = section("Rust quick start"), section("Native transports")
toolchain, core_deps = blocks(core, "toml")[:2]
native_deps = blocks(native, "toml")[0]
deps = []
for line in (core_deps + native_deps).splitlines():
    line = line.split("#", 1)[0].rstrip() if not line.lstrip().startswith("#") else ""
    if not line or line.startswith("["):
        continue
    m = re.match(r'(lightstream(?:-core)?) = \{ git = "[^"]+" \}', line)
    if m:
        line = f'{m.group(1)} = {{ path = "{repo / "crates" / m.group(1)}" }}'
    deps.append(line)
if not any(d.startswith("lightstream-core ") for d in deps) or not any(d.startswith("lightstream ") for d in deps):
    sys.exit(f"outside.sh: README.md's dependency lines changed shape: {deps}")
(out / "rust-toolchain.toml").write_text(toolchain)
(out / "Cargo.toml").write_text(
    '[package]\nname = "lightstream-outside"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n'
    "[workspace]\n\n[dependencies]\n" + "\n".join(deps) + "\n")
(out / "src" / "bin").mkdir(parents=True, exist_ok=True)
(out / "src" / "bin" / "core_quick_start.rs").write_text(blocks(core, "rust")[0])
(out / "src" / "bin" / "native_quick_start.rs").write_text(blocks(native, "rust")[0])
print(f"outside.sh: a new project in {out}:")
print((out / "Cargo.toml").read_text())
PY

cd "$dir"
log="$dir/build.log"
# Not --locked: a user's project resolves the newest compatible versions.
status=0
cargo build --bins >"$log" 2>&1 || status=$?
grep -v '^\s*\(Compiling\|Downloaded\|Downloading\|Locking\|Adding\|Updating\)' "$log" || true
[ "$status" = 0 ] || { echo "outside.sh: the quick starts do not build outside the repository" >&2; exit 1; }
if grep -n '^warning' "$log" | grep -v 'waiting for other jobs'; then
  echo "outside.sh: the build above printed warnings that every user would see" >&2
  exit 1
fi
cargo run -q --bin core_quick_start
cargo run -q --bin native_quick_start
echo "outside.sh: both quick starts built without warnings and ran"
