#!/usr/bin/env bash
# How long a newcomer's first build takes, and how big the binary is: builds the
# gpuwatch binary from an empty target directory and prints the wall-clock time, the CPU
# time, the binary's size and its size once stripped.
#
#   scripts/first-build.sh                        # what `cargo run --release -- demo` builds
#   scripts/first-build.sh --features reports     # with `gpuwatch report` and `drift` (polars)
#   scripts/first-build.sh --profile agent --no-default-features   # the node agent
#
# Arguments go to `cargo build --locked --bin gpuwatch` (`--release` unless a --profile
# is given). Crates are fetched first (`cargo fetch`) and not counted: the figure is the
# compile. The target directory is a new temporary one, removed afterwards unless
# FIRST_BUILD_KEEP=1 (its path is printed). Add --timings for cargo's per-crate report
# (kept only with FIRST_BUILD_KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."

args=("$@")
profile=""
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --profile) profile=${args[i + 1]:?--profile needs a name} ;;
        --profile=*) profile=${args[i]#--profile=} ;;
    esac
done
if [ -z "$profile" ]; then
    profile=release
    args=(--release "${args[@]}")
fi
# The profile's folder under the target directory (dev and test build into debug/).
case "$profile" in dev | test) out=debug ;; *) out=$profile ;; esac

cargo fetch --locked --quiet
target=$(mktemp -d "${TMPDIR:-/tmp}/gpuwatch-first-build.XXXXXX")
if [ "${FIRST_BUILD_KEEP:-0}" != 1 ]; then
    trap 'rm -rf "$target"' EXIT
fi

echo "== cargo build --locked --bin gpuwatch ${args[*]} (empty target directory $target, $(nproc) cores)" >&2
# bash's `time`: wall, user and system seconds of the build, into $times (cargo's own
# output still goes to stderr).
times=$(mktemp "${TMPDIR:-/tmp}/gpuwatch-times.XXXXXX")
TIMEFORMAT='%R %U %S'
{ time CARGO_TARGET_DIR=$target cargo build --locked --bin gpuwatch "${args[@]}" 2>&3; } 3>&2 2>"$times"
read -r wall cpu_user cpu_sys <"$times"
rm -f "$times"

binary="$target/$out/gpuwatch"
size=$(stat -c %s "$binary")
stripped=$(mktemp "${TMPDIR:-/tmp}/gpuwatch-stripped.XXXXXX")
strip -o "$stripped" "$binary"
stripped_size=$(stat -c %s "$stripped")
rm -f "$stripped"

python3 - "$wall" "$cpu_user" "$cpu_sys" "$size" "$stripped_size" "${args[*]}" <<'PY'
import sys
wall, user, system, size, stripped, args = sys.argv[1:]
wall, cpu = round(float(wall)), float(user) + float(system)
print(f"first build, cargo build --bin gpuwatch {args}: "
      f"{wall // 60} min {wall % 60} s wall, {cpu:.0f} s CPU; "
      f"binary {int(size) / 1e6:.1f} MB, {int(stripped) / 1e6:.1f} MB stripped")
PY
