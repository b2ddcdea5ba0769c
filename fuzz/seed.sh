#!/usr/bin/env bash
# Fills fuzz/corpus/prometheus_text/ with the captured /metrics pages in
# ../shared/fixtures (vLLM, Triton, dcgm-exporter). The OTLP targets start from an
# empty corpus (libFuzzer builds one; the property test in collector/tests/property.rs
# mutates the tests' requests).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${FIXTURES:-$here/../../shared/fixtures}
mkdir -p "$here/corpus/prometheus_text"
n=0
for f in $(find "$fixtures" -type f \( -name '*.txt' -o -name '*metrics*' \) 2>/dev/null); do
    cp "$f" "$here/corpus/prometheus_text/$(basename "$f")"
    n=$((n + 1))
done
echo "seed.sh: $n Prometheus pages from $fixtures into corpus/prometheus_text"
