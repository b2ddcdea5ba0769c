#!/usr/bin/env bash
# Installs the gpuwatch agent and/or collector as systemd services:
#
#   sudo deploy/systemd/install.sh [--collector URL] [--binary PATH] [--root DIR] agent|collector...
#
# For each: the binary as /usr/local/bin/gpuwatch, deploy/ROLE.toml as
# /etc/gpuwatch/ROLE.toml (an existing one is kept, so edits survive a reinstall),
# checked with `gpuwatch config check`, and deploy/systemd/gpuwatch-ROLE.service in
# /etc/systemd/system, then `systemctl daemon-reload` and `systemctl enable --now`.
#
# --collector: agent.collector of a newly installed agent.toml, the collector's
#   OTLP/HTTP URL (http://COLLECTOR-HOST:4318).
# --binary: the gpuwatch to install [default: $CARGO_TARGET_DIR/release/gpuwatch, else
#   target/release/gpuwatch]; nodes that only run the agent can take the small agent
#   build, `cargo build --profile agent --locked --no-default-features`, which is
#   target/agent/gpuwatch.
# --root: install into DIR instead of / (an image being built, a test): files only,
#   enabled with `systemctl --root=DIR enable`, nothing started.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
root=/
binary="${CARGO_TARGET_DIR:-$repo/target}/release/gpuwatch"
collector=""
roles=()
while [ $# -gt 0 ]; do
    case "$1" in
        --collector) collector=$2; shift 2 ;;
        --binary) binary=$2; shift 2 ;;
        --root) root=$2; shift 2 ;;
        agent|collector) roles+=("$1"); shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument '$1' (agent, collector, --collector URL, --binary PATH, --root DIR)" >&2; exit 2 ;;
    esac
done
if [ ${#roles[@]} -eq 0 ]; then
    echo "install.sh: say what to install: agent, collector or both" >&2
    exit 2
fi
case "$collector" in
    *[[:space:]\"\\#\|\&]*) echo "install.sh: --collector must be a URL, got '$collector'" >&2; exit 2 ;;
esac
if [ ! -x "$binary" ]; then
    echo "install.sh: no gpuwatch binary at $binary (cargo build --release --locked --features reports, or --binary PATH)" >&2
    exit 1
fi
root=${root%/}
bin="$root/usr/local/bin/gpuwatch"

install -D -m 0755 "$binary" "$bin"
echo "installed $bin"
for role in "${roles[@]}"; do
    config="$root/etc/gpuwatch/$role.toml"
    if [ -e "$config" ]; then
        echo "kept $config${collector:+ (its collector stays; --collector is for a new one)}"
    else
        install -D -m 0644 "$repo/deploy/$role.toml" "$config"
        if [ "$role" = agent ] && [ -n "$collector" ]; then
            sed -i "s|^collector = .*|collector = \"$collector\"|" "$config"
        fi
        echo "installed $config"
    fi
    "$bin" config check "$config"
    unit="gpuwatch-$role.service"
    install -D -m 0644 "$repo/deploy/systemd/$unit" "$root/etc/systemd/system/$unit"
    echo "installed $root/etc/systemd/system/$unit"
    if [ -z "$root" ]; then
        systemctl daemon-reload
        systemctl enable --now "$unit"
    else
        systemctl --root="$root" enable "$unit"
    fi
done
