#!/bin/sh
# gpu_check.sh - the NVML figures the README quotes, taken on a machine with an NVIDIA GPU:
# what `codegreen info` finds, each NVML call's cost and the energy counter's update period idle
# and under a CUDA load (bench_nvml, independent of the provider), and codegreen's own figures
# for Session tasks and a `codegreen run` under that load, each beside the driver's counter.
#
#   bench/gpu_check.sh [OUTDIR]        (from the repository root, after ./scripts/build.sh with
#                                       -DNEMB_BUILD_BENCH=ON; needs PyTorch with CUDA)
# Environment: CODEGREEN_BIN (build/bin/codegreen), BENCH_NVML (build/bin/bench_nvml),
# CODEGREEN_LIB_PATH (build/lib/libcodegreen-nemb.so), PYTHON (python3).
# Figures, not a test: it asserts nothing and CI (no GPU) never runs it.
set -u
out=${1:-gpu-check}
mkdir -p "$out"
cg=${CODEGREEN_BIN:-build/bin/codegreen}
probe=${BENCH_NVML:-build/bin/bench_nvml}
py=${PYTHON:-python3}
export CODEGREEN_LIB_PATH="${CODEGREEN_LIB_PATH:-build/lib/libcodegreen-nemb.so}"
export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
here=$(dirname "$0")

echo "== nvidia-smi"
nvidia-smi --query-gpu=name,driver_version,power.draw,power.limit,clocks.sm --format=csv
echo "== codegreen info"
"$cg" info
"$cg" info --json >"$out/info.json"
echo "== bench_nvml, idle"
"$probe" -n 2000 -s 2
echo "== bench_nvml under a bf16 matmul load"
"$py" "$here/bench_nvml_task.py" --load-only 8 &
load=$!
sleep 4 # PyTorch's import and CUDA's start-up, so the probe sees the load itself
"$probe" -n 2000 -s 2
wait $load
echo "== codegreen sample, idle, 2 s"
"$cg" sample -d 2
echo "== the sampler's CPU: 5 s of sample with NVML, and with the CPU estimate alone"
for providers in "" estimate; do
  CODEGREEN_PROVIDERS=$providers "$py" -c "
import resource, subprocess, sys, time
t = time.monotonic()
subprocess.run([sys.argv[1], 'sample', '-d', '5'], stdout=subprocess.DEVNULL, check=True)
wall = time.monotonic() - t
r = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = r.ru_utime + r.ru_stime
print('providers %-9s %.2f s CPU over %.2f s (%.1f %% of a core)' % (
    sys.argv[2] or 'default', cpu, wall, 100 * cpu / wall))" "$cg" "$providers"
done
echo "== Session tasks beside the driver's counter"
"$py" "$here/bench_nvml_task.py" --seconds 2 --rounds 2 --report "$out/nvml_task.json"
echo "== codegreen run of a 4 s matmul load"
"$cg" run -o "$out/run.json" -- "$py" "$here/bench_nvml_task.py" --load-only 4
"$py" -c "
import json, sys
r = json.load(open(sys.argv[1]))
print('run: energy_j', r['totals']['energy_j'], 'domains', r['tasks'][0]['domains'],
      'update_period_us', r['meta']['sampler'].get('update_period_us'),
      'quality', r['meta']['measurement_quality'])" "$out/run.json"
echo "== codegreen measure: functions of a PyTorch program"
cat >"$out/gpu_functions.py" <<'PY'
import time
import torch


def products(a, b, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()


def wait(seconds):
    time.sleep(seconds)


a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
torch.cuda.synchronize()
for _ in range(2):
    wait(1.0)
    products(a, b, 1.0)
PY
"$cg" measure -o "$out/measure.json" "$out/gpu_functions.py"
echo "== codegreen run -- sleep 1.5 (the CPU side: what measures it here)"
"$cg" run -- sleep 1.5
echo "== CUDA_VISIBLE_DEVICES by UUID and an index out of range"
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
CUDA_VISIBLE_DEVICES=$uuid "$cg" info | grep -iA2 'gpu\|nvml' | head -12
CUDA_VISIBLE_DEVICES=7 "$cg" info | grep -iA3 'nvml' | head -8
