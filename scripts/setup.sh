#!/usr/bin/env bash
# Installs what Lightstream's build and tests need on a fresh Debian machine and
# skips everything that is already there, so running it twice installs nothing
# the second time. scripts/test.sh and scripts/demo.sh run it first.
#
# Always (unless --minimal):
#   - the Rust toolchain pinned in rust-toolchain.toml (with its targets and
#     components), installing rustup itself if it is missing
#   - gcc, clang and llvm from apt (clang builds the zstd C library for wasm32)
#   - python3 with pyarrow (the reference implementation for interop tests)
#     and polars (a second one, for CSV)
#   - nats-server from apt (Debian's package): the NATS tests (issue 22) start
#     their own server on a free loopback port with JetStream in a temporary
#     directory; nothing is started here (no systemd service is used)
# With --minimal: only the Rust toolchain and the C compilers (enough to build
# and run the CLI; scripts/demo.sh adds --with=wasm-bindgen for the browser build).
#
# Optional extras, installed only when asked for (scripts/test.sh asks for all
# of them): pass --with=LIST or set LIGHTSTREAM_SETUP_EXTRAS=LIST, where LIST
# is a comma- or space-separated subset of
#   wasm-bindgen   wasm-bindgen-cli at exactly the wasm-bindgen version in
#                  Cargo.lock (and python3, which npm/build.sh uses)
#   browser        chromium + chromium-driver (headless browser tests)
#   npm            node/npm and the npm packages in LIGHTSTREAM_NPM_PACKAGES
#                  (default: playwright-core@1.65.1 apache-arrow@21.2.0),
#                  into ./node_modules
#   cargo-fuzz     cargo-fuzz 0.13.2 (`cargo install --locked`), for
#                  scripts/fuzz.sh
#   wasm-pack      wasm-pack 0.15.1 (`cargo +stable install`), which runs the
#                  browser crate's tests (`wasm-pack test --headless --chrome`)
# or "all" for every one of them.
#
# flatc is not needed here: the generated flatbuffers code is committed
# (scripts/gen-flatbuffers.sh regenerates it and fetches flatc itself).
set -euo pipefail

script="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")"
repo=$(dirname "$(dirname "$script")")
cd "$repo"

usage() {
  sed -n '2,/^set -euo/p' "$script" | sed -e '$d' -e 's/^# \{0,1\}//'
  echo "Usage: bash scripts/setup.sh [--minimal] [--with=wasm-bindgen,browser,npm,cargo-fuzz,wasm-pack|all]"
}

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# ---------------------------------------------------------------- arguments --
minimal=0
extras="${LIGHTSTREAM_SETUP_EXTRAS:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --minimal) minimal=1 ;;
    --with=*) extras="$extras ${1#--with=}" ;;
    --with) [ $# -ge 2 ] || die "--with needs a value"; extras="$extras $2"; shift ;;
    --all) extras="$extras all" ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
extras=$(printf '%s' "$extras" | tr ',' ' ')
for e in $extras; do
  case "$e" in
    wasm-bindgen|browser|npm|cargo-fuzz|wasm-pack|all) ;;
    *) die "unknown extra '$e' (expected wasm-bindgen, browser, npm, cargo-fuzz, wasm-pack or all)" ;;
  esac
done
want_extra() {
  local e
  for e in $extras; do
    case "$e" in all|"$1") return 0 ;; esac
  done
  return 1
}

# ---------------------------------------------------------------------- apt --
# Runs a command as root (directly, or through sudo when not root).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif have sudo; then
    sudo -n "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

apt_updated=0
# apt_install PACKAGE...: installs the packages not installed yet; runs
# `apt-get update` at most once per run, and only when something is missing.
apt_install() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$p")
    fi
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  have apt-get || die "apt-get not found; install by hand: ${missing[*]}"
  if [ "$apt_updated" -eq 0 ]; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
    apt_updated=1
  fi
  say "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
}

# need_cmd COMMAND PACKAGE: installs PACKAGE with apt when COMMAND is missing.
need_cmd() {
  if have "$1"; then return 0; fi
  apt_install "$2"
  have "$1" || die "'$1' still missing after installing $2"
}

# ----------------------------------------------------------- C compilers --
setup_c_compilers() {
  need_cmd cc gcc
  # Rust links against libc; its headers and crt files come with libc6-dev.
  apt_install libc6-dev
  need_cmd clang clang
  need_cmd llvm-ar llvm
  say "C compilers: ok ($(clang --version | head -n 1))"
}

# --------------------------------------------------------------------- Rust --
toolchain_file="$repo/rust-toolchain.toml"

# toml_value KEY: the raw right-hand side of `KEY = ...` in rust-toolchain.toml.
toml_value() {
  sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$toolchain_file" | head -n 1
}
# toml_list KEY: the strings of a one-line TOML array, one per line.
toml_list() {
  toml_value "$1" | tr -d '[]"' | tr ',' '\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//' | sed '/^$/d'
}

setup_rustup() {
  local cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
  case ":$PATH:" in *":$cargo_bin:"*) ;; *) export PATH="$cargo_bin:$PATH" ;; esac
  if have rustup; then return 0; fi
  say "installing rustup"
  local arch
  case "$(uname -m)" in
    x86_64|amd64) arch=x86_64 ;;
    aarch64|arm64) arch=aarch64 ;;
    *) die "no rustup-init for $(uname -m); install rustup by hand" ;;
  esac
  need_cmd curl curl
  apt_install ca-certificates
  local tmp
  tmp=$(mktemp -d)
  curl --proto '=https' --tlsv1.2 -sSfL -o "$tmp/rustup-init" \
    "https://static.rust-lang.org/rustup/dist/${arch}-unknown-linux-gnu/rustup-init"
  chmod +x "$tmp/rustup-init"
  "$tmp/rustup-init" -y --no-modify-path --profile minimal --default-toolchain none </dev/null >/dev/null
  rm -rf "$tmp"
  have rustup || die "rustup installed but not found in $cargo_bin"
}

setup_rust_toolchain() {
  [ -f "$toolchain_file" ] || die "missing $toolchain_file"
  local channel incomplete=0 t c installed
  channel=$(toml_value channel | tr -d '"' | sed 's/[[:space:]]*$//')
  [ -n "$channel" ] || die "no channel in rust-toolchain.toml"

  if ! rustup toolchain list | grep -q "^${channel}-"; then
    incomplete=1
  else
    installed=$(rustup target list --installed --toolchain "$channel" 2>/dev/null || true)
    for t in $(toml_list targets); do
      grep -qx "$t" <<<"$installed" || incomplete=1
    done
    installed=$(rustup component list --installed --toolchain "$channel" 2>/dev/null || true)
    for c in $(toml_list components); do
      grep -q "^${c}\(-\|$\)" <<<"$installed" || incomplete=1
    done
  fi

  if [ "$incomplete" -eq 1 ]; then
    # With no argument, `rustup toolchain install` reads rust-toolchain.toml in
    # the current directory: channel, targets and components together.
    say "installing Rust toolchain $channel (from rust-toolchain.toml)"
    rustup toolchain install </dev/null
  fi
  say "Rust: ok ($(rustc --version))"
}

# ------------------------------------------------------- pyarrow, polars --
# The Python packages the interop tests use as oracles (pip, one at a time).
setup_python_package() {
  local pkg=$1
  need_cmd python3 python3
  if python3 -c "import $pkg" >/dev/null 2>&1; then
    say "$pkg: ok ($(python3 -c "import $pkg; print($pkg.__version__)"))"
    return 0
  fi
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  say "pip install $pkg"
  if ! python3 -m pip install --quiet "$pkg" </dev/null; then
    # Debian's own python3 refuses pip installs into the system environment
    # (PEP 668). Tests import the package from that same python3, so install anyway.
    say "retrying with --break-system-packages (externally managed python3)"
    python3 -m pip install --quiet --break-system-packages "$pkg" </dev/null
  fi
  python3 -c "import $pkg" || die "$pkg installed but cannot be imported"
  say "$pkg: ok ($(python3 -c "import $pkg; print($pkg.__version__)"))"
}

# ------------------------------------------------- optional: wasm-bindgen --
# wasm-bindgen-cli must match the wasm-bindgen crate exactly; take the version
# from Cargo.lock. Never `--locked`: its lockfile pins crates missing here.
setup_wasm_bindgen_cli() {
  # npm/build.sh (which runs wasm-bindgen) writes the crates' notices with python3.
  need_cmd python3 python3
  # `cargo metadata` writes Cargo.lock when it is missing.
  if [ ! -f Cargo.lock ] && ! cargo metadata --format-version 1 >/dev/null; then
    die "wasm-bindgen-cli: no Cargo.lock and cargo could not resolve the workspace"
  fi
  local version
  version=$(awk '/^name = "wasm-bindgen"$/ { found = 1; next }
                 found && /^version = / { gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
  if [ -z "$version" ]; then
    say "wasm-bindgen-cli: skipped (no wasm-bindgen crate in Cargo.lock yet)"
    return 0
  fi
  if have wasm-bindgen && [ "$(wasm-bindgen --version | awk '{print $2}')" = "$version" ]; then
    say "wasm-bindgen-cli: ok ($version)"
    return 0
  fi
  # Built with the stable toolchain: the pinned nightly's cargo resolves
  # wasm-bindgen-cli's dependencies to versions this registry does not have
  # (webpki-roots ^1.0.10, locked to 1.0.11); stable's cargo resolves them.
  if ! rustup toolchain list | grep -q '^stable-'; then
    say "installing the stable Rust toolchain (for cargo install wasm-bindgen-cli)"
    rustup toolchain install stable --profile minimal </dev/null
  fi
  say "cargo +stable install wasm-bindgen-cli $version (takes a few minutes)"
  (cd / && cargo +stable install --quiet --force wasm-bindgen-cli --version "=$version" </dev/null)
  say "wasm-bindgen-cli: ok ($(wasm-bindgen --version))"
}

# ------------------------------------------------------ optional: browser --
setup_browser() {
  apt_install chromium chromium-driver
  say "browser: ok (/usr/bin/chromium, /usr/bin/chromedriver)"
}

# ---------------------------------------------------------- optional: npm --
# Versions the browser tests and benches were written against.
# (@uwdata/flechette, an optional peer in the browser benches, is not here:
# `npm install` of it fails on this registry; benches/README.md says how to add it.)
# ws: the WebSocket of the Node.js tests on Node 20 (npm/test/node.test.mjs).
# (binaryen's wasm-opt is not used: it made the .wasm larger gzipped;
# benches/README.md "Size of the .wasm" says how it was measured.)
# @duckdb/duckdb-wasm: the toIPC() hand-off test (npm/test/duckdb.test.mjs, its Node blocking build).
default_npm_packages="playwright-core@1.65.1 apache-arrow@21.2.0 typescript@5.9.3 ws@8.23.1 @duckdb/duckdb-wasm@1.32.0"
# Never `npx playwright install`: it downloads browsers, which fails here;
# playwright-core drives the apt chromium instead.
setup_npm_packages() {
  need_cmd node nodejs
  need_cmd npm npm
  local pkg missing=() all=(${LIGHTSTREAM_NPM_PACKAGES:-$default_npm_packages})
  for pkg in "${all[@]}"; do
    # NAME@VERSION (NAME may be scoped: @scope/name@1.2.3).
    local name=$pkg
    [[ "$pkg" == ?*@* ]] && name=${pkg%@*}
    [ -f "node_modules/$name/package.json" ] || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    # Every package in one command: `npm install --no-save` of a few removes
    # the others (they are "extraneous" without a package.json).
    say "npm install ${all[*]} (missing: ${missing[*]})"
    npm install --prefix "$repo" --no-save --no-package-lock --no-fund --no-audit \
      --loglevel=error "${all[@]}" </dev/null >/dev/null
  fi
  say "npm packages: ok"
}

# --------------------------------------------------- optional: cargo-fuzz --
# The libFuzzer driver for crates/fuzz (scripts/fuzz.sh). It builds with the
# pinned nightly toolchain (run from the repository, so rust-toolchain.toml
# applies); --locked uses the versions cargo-fuzz was released with.
setup_cargo_fuzz() {
  if cargo fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz: ok ($(cargo fuzz --version))"
    return 0
  fi
  say "cargo install cargo-fuzz 0.13.2 --locked (takes a few minutes)"
  cargo install --quiet --locked cargo-fuzz --version 0.13.2 </dev/null
  say "cargo-fuzz: ok ($(cargo fuzz --version))"
}

# ---------------------------------------------------- optional: wasm-pack --
# The test driver wasm developers expect (`wasm-pack test --headless --chrome
# crates/lightstream-wasm`). Used with `--mode no-install` and
# `--chromedriver`, so it never downloads a tool of its own: it runs the
# wasm-bindgen-test-runner installed above, and Debian's chromedriver. Built
# with the stable toolchain, not --locked (its lock file pins versions this
# registry may lack), as TOOLCHAIN.md says.
setup_wasm_pack() {
  if have wasm-pack && [ "$(wasm-pack --version | awk '{print $2}')" = "0.15.1" ]; then
    say "wasm-pack: ok (0.15.1)"
    return 0
  fi
  if ! rustup toolchain list | grep -q '^stable-'; then
    say "installing the stable Rust toolchain (for cargo install wasm-pack)"
    rustup toolchain install stable --profile minimal </dev/null
  fi
  say "cargo +stable install wasm-pack 0.15.1 (takes a few minutes)"
  (cd / && cargo +stable install --quiet --force wasm-pack --version 0.15.1 </dev/null)
  say "wasm-pack: ok ($(wasm-pack --version))"
}

# ---------------------------------------------------------------- nats-server --
# The NATS tests start `nats-server` themselves (tests/src/nats.rs); a missing
# binary fails them with a message naming this script.
setup_nats_server() {
  need_cmd nats-server nats-server
  say "nats-server: ok ($(nats-server --version))"
}

# --------------------------------------------------------------------- main --
setup_c_compilers
setup_rustup
setup_rust_toolchain
if [ "$minimal" -eq 0 ]; then
  setup_python_package pyarrow
  setup_python_package polars
  setup_nats_server
  if [ ! -d "$repo/../shared/arrow-testing/data" ]; then
    say "warning: ../shared/arrow-testing is missing; the conformance tests need it"
  fi
fi
if want_extra wasm-bindgen; then setup_wasm_bindgen_cli; fi
if want_extra browser; then setup_browser; fi
if want_extra npm; then setup_npm_packages; fi
if want_extra cargo-fuzz; then setup_cargo_fuzz; fi
if want_extra wasm-pack; then setup_wasm_pack; fi
say "done"
