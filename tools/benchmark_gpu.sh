#!/usr/bin/env bash
# The GPU benchmark in one go, under 8 minutes on one GPU: dal-benchmark's three
# ratios (lower-quartile ratio, and median and quartiles of interleaved pairs, after
# a warm-up that lasts until step times settle), the DAL loss scale curve (1k to
# 128k tracklets, D = 2048, 64 frames) and the training step table: torchreid's
# stock VideoSoftmaxEngine, the plugin's supervised engine and DAL, contiguous and
# channels-last, DAL also under bf16 and fp16 autocast. Prints the GPU, then the
# report, and writes OUT_DIR/benchmark.json and OUT_DIR/benchmark.txt.
#
#   tools/benchmark_gpu.sh [OUT_DIR] [dal-benchmark options]     # default OUT_DIR log/benchmark_gpu
#   BENCHMARK_DEVICE=cpu tools/benchmark_gpu.sh /tmp/bench --small --threads 1   # the CPU check
#
# Environment: PYTHON (default python), BENCHMARK_DEVICE (cuda or cpu, default cuda),
# WORKERS (evaluation loader workers; default 8 on cuda, 0 on cpu), BENCHMARK_TIMEOUT
# (seconds before the run is stopped as a failure, default 480).
set -euo pipefail

out=log/benchmark_gpu
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
    out=$1
    shift
fi
python=${PYTHON:-python}
device=${BENCHMARK_DEVICE:-cuda}
case "$device" in
    cuda) workers=${WORKERS:-8} ;;
    cpu) workers=${WORKERS:-0} ;;
    *) echo "benchmark_gpu.sh: BENCHMARK_DEVICE must be cuda or cpu, got '$device'" >&2; exit 2 ;;
esac
mkdir -p "$out"
out=$(cd "$out" && pwd)
cd "$(dirname "$0")/.."  # this checkout's dal_torchreid, whatever the caller's directory

if [ "$device" = cuda ] && command -v nvidia-smi > /dev/null; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
fi
start=$(date +%s)
timeout "${BENCHMARK_TIMEOUT:-480}" "$python" -m dal_torchreid.benchmarks.speed \
    --device "$device" --workers "$workers" --json "$out/benchmark.json" "$@" \
    2>&1 | tee "$out/benchmark.txt"
echo "benchmark_gpu.sh: done in $(( $(date +%s) - start )) s, report in $out"
