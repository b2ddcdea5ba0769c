#!/usr/bin/env bash
# The H200 check: the agent against the real NVML beside nvidia-smi. Output under $OUT.
set -u
get() { curl -s "$1" 2>/dev/null || python3 -c "import sys,urllib.request;sys.stdout.write(urllib.request.urlopen(sys.argv[1]).read().decode())" "$1"; }
B=./gpuwatch-bin
chmod +x $B
export RUST_LOG=info
{ date; uname -a; nvidia-smi; nvidia-smi -q; nvidia-smi nvlink -s; nvidia-smi topo -m; } > $OUT/nvidia-smi.txt 2>&1
timeout 60 $B agent --once --format json > $OUT/once.json 2> $OUT/once.err; echo "once rc=$?" >> $OUT/summary.txt
timeout 60 $B agent --once --format table > $OUT/once.txt 2>> $OUT/once.err
# Load the GPU if python has torch (30 s of matmuls), to see utilization and power move.
( python3 - <<'PY' > $OUT/load.txt 2>&1 &
import time
try:
    import torch
except Exception as e:
    print("no torch:", e); raise SystemExit
a = torch.randn(8192, 8192, device="cuda"); t = time.time()
while time.time() - t < 25:
    b = a @ a
torch.cuda.synchronize(); print("load done")
PY
)
$B collector > $OUT/collector.log 2>&1 & CPID=$!
sleep 2
$B agent > $OUT/agent.log 2>&1 & APID=$!
nvidia-smi --query-gpu=timestamp,index,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu,clocks.sm,pcie.link.gen.current --format=csv -l 1 > $OUT/smi.csv 2>&1 & SPID=$!
sleep 5; awk '{print "t10 ticks:", $14+$15}' /proc/$APID/stat >> $OUT/summary.txt
for i in $(seq 1 10); do sleep 1; get http://127.0.0.1:9464/api/v1/gpus >> $OUT/gpus-during-load.jsonl; echo >> $OUT/gpus-during-load.jsonl; done
sleep 40
get http://127.0.0.1:9464/api/v1/gpus > $OUT/gpus.json
get http://127.0.0.1:9464/metrics > $OUT/metrics.txt
get http://127.0.0.1:9464/api/v1/alerts > $OUT/alerts.json
awk '{print "agent utime+stime ticks:", $14+$15, "rss pages:", $24}' /proc/$APID/stat >> $OUT/summary.txt
grep VmHWM /proc/$APID/status >> $OUT/summary.txt
ps -o etimes= -p $APID >> $OUT/summary.txt
getconf CLK_TCK >> $OUT/summary.txt
kill $SPID; kill -INT $APID; sleep 2; kill -INT $CPID; sleep 1
$B agent --dry-run > $OUT/dryrun.txt 2>&1 & DPID=$!; sleep 5; kill -INT $DPID
echo finished >> $OUT/summary.txt
cd $OUT && tar czf /tmp/all.tgz . && rm -f ./* && mv /tmp/all.tgz $OUT/all.tgz
