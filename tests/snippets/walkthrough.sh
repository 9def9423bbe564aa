#!/usr/bin/env bash
# The shell blocks of README.md, npm/README.md and docs/*.md, run in order as a
# new user would type them, in one temporary folder, with the CLI on PATH as
# `lightstream`. Blocks are read from the markdown at test time
# (tests/snippets/blocks.mjs); a block under `<!-- not run: reason -->` is
# skipped and its reason printed.
#
#   bash tests/snippets/walkthrough.sh
#     LIGHTSTREAM_BIN          the CLI (default: $CARGO_TARGET_DIR/debug/lightstream)
#     LIGHTSTREAM_NPM_TARBALL  the packed npm package (default: the newest in target/npm)
#     LIGHTSTREAM_WALKTHROUGH_KEEP=1  keep the temporary folder
#
# What is rewritten, and only that: a server's port becomes 0 (a free one) and
# the port its `listening on` line names replaces the doc's port in the same
# block's client commands; `/tmp/` becomes a folder of this run's own (other
# runs may share the machine). A line that starts `lightstream serve` or
# `lightstream listen` runs in the background and the block goes on once it
# printed `listening on` ("terminal 1" / "terminal 2"); at the block's end a
# `serve` gets SIGTERM and must exit 0, a `listen` must exit 0 on its own.
# `npm install` runs offline (no audit, no fund: the tarball has no
# dependencies).
#
# Checked: every command exits 0 within the block's time bound (60 s); every
# data file a block names exists afterwards and `lightstream cat` shows the
# rows WANT_ROWS says; an installed npm package has its package.json. A
# failure names the doc's file and line. Exit 0 when all passed, 1 otherwise.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo"
bin=${LIGHTSTREAM_BIN:-${CARGO_TARGET_DIR:-$repo/target}/debug/lightstream}
tarball=${LIGHTSTREAM_NPM_TARBALL:-$(ls -t "${CARGO_TARGET_DIR:-$repo/target}"/npm/lightstream-arrow-*.tgz "$repo"/target/npm/lightstream-arrow-*.tgz 2>/dev/null | head -n 1 || true)}
[ -z "$tarball" ] || tarball=$(realpath "$tarball")
BLOCK_SECONDS=60

# Rows of each data file the docs write (`lightstream example` writes 1000 by
# default). A data file a block names that is not here fails the walk-through.
declare -A WANT_ROWS=(
  [demo.arrow]=1000 [demo.parquet]=1000 [demo.csv]=1000 [copy.arrow]=1000
  [received.arrows]=100 [data.arrows]=1000 [out.arrows]=1000
)
# What the docs assume the reader has: data.arrows of their own (served in
# docs/native-api.md), an app folder (npm/README.md's `cd my-app`) and the
# tarball the not-run `npm/build.sh --pack-dest /tmp/ls` block would leave.
fixtures() {
  lightstream example data.arrows >/dev/null
  mkdir -p my-app "$work/tmp/ls"
  [ -f "$tarball" ] || { echo "walkthrough: no npm tarball (bash npm/build.sh --pack-dest target/npm, or set LIGHTSTREAM_NPM_TARBALL)" >&2; return 1; }
  cp "$tarball" "$work/tmp/ls/"
}

[ -x "$bin" ] || { echo "walkthrough: no CLI at $bin (cargo build -p lightstream-cli, or set LIGHTSTREAM_BIN)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/lightstream-walkthrough.XXXXXX")
[ "${LIGHTSTREAM_WALKTHROUGH_KEEP:-}" = 1 ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/bin" "$work/run" "$work/tmp" "$work/gen"
ln -s "$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")" "$work/bin/lightstream"
export PATH="$work/bin:$PATH"
# npm install of a local tarball without network round trips.
export npm_config_audit=false npm_config_fund=false npm_config_offline=true npm_config_update_notifier=false

n=$(node tests/snippets/blocks.mjs --lang sh,bash,shell,console --out "$work/blocks" README.md npm/README.md docs/*.md)

# ------------------------------------------------ helpers of the blocks --
# Defined here, copied into every generated block script with `declare -f`.

__at() { printf '%s\n' "$1" >"$__state"; }

# __serve KIND LOG VAR CMD...: CMD in the background, its stderr in LOG; waits
# (20 s at most) for `listening on URL`, then sets VAR to URL's port.
__serve() {
  local kind=$1 log=$2 var=$3 i url
  shift 3
  "$@" 2>"$log" &
  __pids+=($!) __kinds+=("$kind") __logs+=("$log") __cmds+=("$*")
  for ((i = 0; i < 200; i++)); do
    url=''
    # A whole line only (the URL may still be on its way).
    [ -n "$(tail -c 1 "$log")" ] || url=$(grep -o -m 1 'listening on [^ ]*' "$log" | cut -d' ' -f3 || true)
    if [ -n "$url" ]; then
      [ "$var" = - ] || printf -v "$var" '%s' "$(sed -E 's#^.*:([0-9]+)/?$#\1#' <<<"$url")"
      return 0
    fi
    kill -0 "${__pids[-1]}" 2>/dev/null || { echo "the server exited before listening: $(cat "$log")" >&2; return 1; }
    sleep 0.1
  done
  echo "no 'listening on' within 20 s: $(cat "$log")" >&2
  return 1
}

# The block's end: `serve` gets SIGTERM, `listen` and `serve --once` finish
# on their own; each must exit 0.
__stop_servers() {
  local i s rc=0
  for i in "${!__pids[@]}"; do
    [ "${__kinds[i]}" != serve ] || kill -TERM "${__pids[i]}" 2>/dev/null || true
    s=0
    wait "${__pids[i]}" || s=$?
    if [ "$s" -ne 0 ]; then
      echo "the server \`${__cmds[i]}\` exited $s: $(tail -n 3 "${__logs[i]}")" >&2
      rc=1
    fi
  done
  __pids=()
  return "$rc"
}

__kill_servers() {
  local pid
  for pid in "${__pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
}

# ---------------------------------------------------------- generation --

# strip_comment LINE: LINE without a trailing `# comment` (a # that starts a
# word outside quotes), trailing blanks trimmed.
strip_comment() {
  local s=$1 out='' q='' c prev=' ' i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    if [ -z "$q" ]; then
      case $c in
        "'" | '"') q=$c ;;
        '#') [[ $prev != [[:space:]] ]] || break ;;
      esac
    elif [ "$c" = "$q" ]; then
      q=''
    fi
    out+=$c
    prev=$c
  done
  printf '%s' "${out%"${out##*[![:space:]]}"}"
}

# generate CODE FIRST_LINE OUT: the block as a script of its own.
generate() {
  local code=$1 line=$2 out=$3 logical='' at=0 cmd kind port servers=0 l
  local -a lines=() ats=() ports=()
  while IFS= read -r l || [ -n "$l" ]; do
    if [ -z "$logical" ]; then at=$line; fi
    line=$((line + 1))
    if [[ $l == *\\ ]]; then
      logical+="${l%\\} "
      continue
    fi
    lines+=("$logical$l") ats+=("$at")
    logical=''
  done <"$code"
  {
    echo 'set -euo pipefail'
    declare -f __at __serve __stop_servers __kill_servers
    echo "__state=$(printf %q "$out.line"); __pids=() __kinds=() __logs=() __cmds=()"
    echo 'trap __kill_servers EXIT'
    for i in "${!lines[@]}"; do
      cmd=$(strip_comment "${lines[i]}")
      [ -n "$cmd" ] || continue
      cmd=${cmd//\/tmp\//$work/tmp/}
      if [[ $cmd =~ ^lightstream\ (serve|listen)\  ]]; then
        kind=${BASH_REMATCH[1]}
        [[ $cmd != *--once* ]] || kind=once
        [[ $cmd != *[\|\;\&\<\>]* ]] || { echo "walkthrough: ${ats[i]}: a server line must be one simple command" >&2; return 1; }
        port=''
        if [[ $cmd =~ (127\.0\.0\.1|localhost):([0-9]+) ]]; then
          port=${BASH_REMATCH[2]}
          ports+=("$port")
          cmd=${cmd//${BASH_REMATCH[0]}/${BASH_REMATCH[1]}:0}
        fi
        servers=$((servers + 1))
        echo "__at ${ats[i]}; __serve $kind $(printf %q "$out.server$servers") ${port:+PORT_}${port:--} $cmd"
      else
        for port in "${ports[@]}"; do
          cmd=$(sed -E "s#(127\.0\.0\.1|localhost):$port\b#\1:\${PORT_$port}#g" <<<"$cmd")
        done
        echo "__at ${ats[i]}; $cmd"
      fi
    done
    echo '__stop_servers'
  } >"$out"
}

# ---------------------------------------------------------- Rust blocks --
# They run as doctests of crates/lightstream (`#[doc = include_str!(..)]` in its
# lib.rs; `cargo test` runs them): a doc with Rust blocks that lib.rs does not
# include would never run. `rust,ignore` is for API listings (signatures, not
# programs): one with a `let`, a `fn main` or rustdoc's hidden `# ` lines is an
# example that should run.
rust_problems=()
rs_n=$(node tests/snippets/blocks.mjs --lang rust --out "$work/rust" README.md npm/README.md docs/*.md)
for ((k = 1; k <= rs_n; k++)); do
  { read -r file; read -r first; read -r _; read -r _; read -r info; } <"$work/rust/$(printf '%02d' "$k").meta"
  if ! grep -qF "include_str!(\"../../../$file\")" crates/lightstream/src/lib.rs; then
    rust_problems+=("$file:$((first - 1)): a Rust block in a file crates/lightstream/src/lib.rs does not include as a doctest")
  elif [[ $info == *ignore* ]] && grep -qE '^\s*(let |(async )?fn main\(|# |#\[tokio::main\])' "$work/rust/$(printf '%02d' "$k").code"; then
    rust_problems+=("$file:$((first - 1)): an example (let, fn main or hidden lines) fenced \`$info\`: let it run as a doctest (no_run if it needs a peer)")
  fi
done
if [ ${#rust_problems[@]} -eq 0 ]; then
  printf 'walkthrough: ok   %d Rust blocks, each in a doctest of crates/lightstream\n' "$rs_n"
else
  printf 'walkthrough: FAIL %s\n' "${rust_problems[@]}" >&2
fi

# ----------------------------------------------------------------- run --

cd "$work/run"
fixtures
failed=0 ran=0 skipped=0
for ((k = 1; k <= n; k++)); do
  id=$(printf '%02d' "$k")
  { read -r file; read -r first; read -r lang; read -r not_run; read -r _; } <"$work/blocks/$id.meta"
  where="$file:$((first - 1))"
  if [ -n "$not_run" ]; then
    printf 'walkthrough: skip %s: not run: %s\n' "$where" "$not_run"
    skipped=$((skipped + 1))
    continue
  fi
  gen="$work/gen/$id.sh"
  generate "$work/blocks/$id.code" "$first" "$gen"
  t0=$SECONDS rc=0
  timeout -k 5 "$BLOCK_SECONDS" bash "$gen" >"$gen.out" 2>&1 || rc=$?
  ran=$((ran + 1))
  problems=()
  if [ "$rc" -ne 0 ]; then
    at=$(cat "$gen.line" 2>/dev/null || echo "$((first - 1))")
    why="exit $rc"
    [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] || why="no end within $BLOCK_SECONDS s"
    problems+=("$file:$at: $why: $(sed -n "${at}p" "$repo/$file" | sed 's/^ *//')")
  fi
  # The data files the block names.
  for f in $(grep -v '^ *#' "$work/blocks/$id.code" | grep -oE '[A-Za-z0-9_./-]+\.(arrow|arrows|feather|parquet|pq|csv|tsv)\b' | grep -v '^-' | sort -u); do
    [ "$rc" -eq 0 ] || break
    base=$(basename "$f")
    if [ -z "${WANT_ROWS[$base]:-}" ]; then
      problems+=("$where: names $f, which WANT_ROWS in tests/snippets/walkthrough.sh does not list: add its row count")
    elif [ ! -s "$f" ]; then
      problems+=("$where: the block names $f but left no such file (or an empty one)")
    else
      rows=$(($(lightstream cat "$f" 2>/dev/null | wc -l) - 2))
      [ "$rows" -eq "${WANT_ROWS[$base]}" ] ||
        problems+=("$where: lightstream cat $f shows $rows rows, expected ${WANT_ROWS[$base]}")
    fi
  done
  # `npm install TARBALL` leaves the package where imports find it.
  if [ "$rc" -eq 0 ] && grep -q 'npm install' "$work/blocks/$id.code" &&
    ! compgen -G "$work/run/*/node_modules/lightstream-arrow/package.json" >/dev/null; then
    problems+=("$where: npm install left no node_modules/lightstream-arrow/package.json")
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    printf 'walkthrough: ok   %s (%s, %ds)\n' "$where" "$lang" "$((SECONDS - t0))"
  else
    failed=$((failed + 1))
    printf 'walkthrough: FAIL %s (%s)\n' "$where" "$lang" >&2
    printf '    %s\n' "${problems[@]}" >&2
    echo '    --- the block:' >&2
    sed 's/^/    | /' "$work/blocks/$id.code" >&2
    echo '    --- its output (last 20 lines):' >&2
    tail -n 20 "$gen.out" | sed 's/^/    | /' >&2
    for s in "$gen".server*; do
      [ -e "$s" ] || continue
      echo "    --- server stderr ($s):" >&2
      tail -n 5 "$s" | sed 's/^/    | /' >&2
    done
  fi
done
printf 'walkthrough: %d blocks run, %d marked not run, %d failed\n' "$ran" "$skipped" "$failed"
[ "$failed" -eq 0 ] && [ ${#rust_problems[@]} -eq 0 ]
