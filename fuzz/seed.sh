#!/usr/bin/env bash
# Fills fuzz/corpus/ with seeds for each target:
#   prometheus_text  the captured /metrics pages in ../shared/fixtures (vLLM, Triton,
#                    dcgm-exporter)
#   otlp_json        fuzz/seeds/otlp_json (the specification's JSON shape: gauge,
#                    cumulative sum, delta histogram)
#   otlp_protobuf    real requests of a real agent (8 simulated GPUs), caught by a
#   otlp_gzip        loopback HTTP sink; the same bodies gzip-compressed
# The agent part needs a built gpuwatch (GPUWATCH=path, default: cargo's debug build
# in CARGO_TARGET_DIR or ../target) and python3; it is skipped, saying so, without.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
fixtures=${FIXTURES:-$here/../../shared/fixtures}
corpus=$here/corpus
mkdir -p "$corpus/prometheus_text" "$corpus/otlp_json" "$corpus/otlp_protobuf" "$corpus/otlp_gzip"

n=0
while IFS= read -r -d '' f; do
    cp "$f" "$corpus/prometheus_text/$(basename "$f")"
    n=$((n + 1))
done < <(find "$fixtures" -type f \( -name '*.txt' -o -name '*metrics*' \) -print0 2>/dev/null)
echo "seed.sh: $n Prometheus pages from $fixtures into corpus/prometheus_text"

cp "$here"/seeds/otlp_json/* "$corpus/otlp_json/"
echo "seed.sh: $(ls "$here/seeds/otlp_json" | wc -l) OTLP/JSON requests into corpus/otlp_json"

target=${CARGO_TARGET_DIR:-$here/../target}
gpuwatch=${GPUWATCH:-$target/debug/gpuwatch}
if [ ! -x "$gpuwatch" ] || ! command -v python3 >/dev/null; then
    echo "seed.sh: no agent requests (build gpuwatch first: cargo build -p gpuwatch, or set GPUWATCH=; needs python3)"
    exit 0
fi
port_file=$(mktemp)
python3 - "$corpus" "$port_file" <<'PY' &
import gzip, http.server, os, sys
corpus, port_file = sys.argv[1], sys.argv[2]
class Sink(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            packed, body = body, gzip.decompress(body)
        else:
            packed = gzip.compress(body)
        Sink.n += 1
        for name, data in (("otlp_protobuf", body), ("otlp_gzip", packed)):
            with open(os.path.join(corpus, name, f"agent-{Sink.n}"), "wb") as f:
                f.write(data)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Sink)
with open(port_file, "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
PY
sink=$!
trap 'kill $sink 2>/dev/null || true; rm -f "$port_file"' EXIT
for _ in $(seq 50); do [ -s "$port_file" ] && break; sleep 0.1; done
port=$(cat "$port_file")
"$gpuwatch" agent --simulate 8 --host-name fuzz-seed --interval 1s \
    --collector "http://127.0.0.1:$port" >/dev/null 2>&1 &
agent=$!
sleep 4
kill "$agent" 2>/dev/null || true
wait "$agent" 2>/dev/null || true
echo "seed.sh: $(ls "$corpus/otlp_protobuf" | wc -l) agent requests into corpus/otlp_protobuf and corpus/otlp_gzip"
