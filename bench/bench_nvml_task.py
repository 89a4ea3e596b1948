"""bench_nvml_task.py - a codegreen.Session task under a CUDA load, checked against the driver's
own energy counter read independently.

    python3 bench/bench_nvml_task.py [--seconds S] [--report PATH]
    python3 bench/bench_nvml_task.py --load-only S     (the matmul load alone, no codegreen)

Needs an NVIDIA GPU, PyTorch with CUDA, and codegreen importable (PYTHONPATH=python,
CODEGREEN_LIB_PATH=build/lib/libcodegreen-nemb.so). Three tasks, one after another:
  idle    time.sleep(S)
  matmul  bf16 8192 x 8192 matrix products for S seconds (torch.cuda.synchronize() at the end)
  idle2   time.sleep(S), to see the GPU come back down
Around each task this script reads nvmlDeviceGetTotalEnergyConsumption itself (ctypes, mJ), right
before start_task and right after stop_task, so the counter's difference spans the task and a
little more; the task's gpu0 energy should match it within the counter's step at each end (the
counter changes every update period; bench_nvml measures that period). Figures, not a test.
Source of the counter's meaning: NVML API Reference, nvmlDeviceGetTotalEnergyConsumption ("total
energy consumption for this GPU in millijoules (mJ) since the driver was last reloaded").
"""

import argparse
import ctypes
import json
import time



def open_counter(index=0):
    """Returns a function that reads GPU @p index's energy counter in joules."""
    nvml = ctypes.CDLL("libnvidia-ml.so.1")
    if nvml.nvmlInit_v2() != 0:
        raise SystemExit("nvmlInit_v2 failed")
    dev = ctypes.c_void_p()
    if nvml.nvmlDeviceGetHandleByIndex_v2(ctypes.c_uint(index), ctypes.byref(dev)) != 0:
        raise SystemExit("no GPU %d" % index)
    mj = ctypes.c_ulonglong()

    def read_j():
        if nvml.nvmlDeviceGetTotalEnergyConsumption(dev, ctypes.byref(mj)) != 0:
            raise SystemExit("nvmlDeviceGetTotalEnergyConsumption failed")
        return mj.value / 1e3

    return read_j


def matmul_for(torch, seconds):
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    products = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()
        products += 20
    return products


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--report", default="nvml_task.json")
    ap.add_argument("--load-only", type=float, metavar="S")
    args = ap.parse_args()
    import torch

    torch.zeros(1, device="cuda")  # CUDA's start-up before any task
    if args.load_only:
        n = matmul_for(torch, args.load_only)
        print("load: %d bf16 8192^3 products in %.1f s" % (n, args.load_only))
        return
    import codegreen

    read_j = open_counter()
    rows = []
    with codegreen.Session("nvml-task", output_file=args.report) as s:
        for name in ("idle", "matmul", "idle2"):
            before = read_j()
            s.start_task(name)
            if name == "matmul":
                products = matmul_for(torch, args.seconds)
            else:
                time.sleep(args.seconds)
            s.stop_task(name)
            rows.append((name, read_j() - before))
    tasks = {t["name"]: t for t in s.report["tasks"]}
    meta = s.report["meta"]
    print("sampler: %s" % json.dumps(meta["sampler"]))
    print("domains: %s" % json.dumps(meta["domain_topology"]))
    print("%-8s %10s %12s %12s %9s %10s" % ("task", "seconds", "gpu0 J", "counter J", "diff %",
                                            "± J"))
    for name, counter_j in rows:
        t = tasks[name]
        gpu = t["domains"].get("gpu0", float("nan"))
        print("%-8s %10.3f %12.3f %12.3f %9.2f %10.3f" % (
            name, t["duration_s"], gpu, counter_j, 100.0 * (gpu - counter_j) / counter_j,
            t.get("energy_uncertainty_j") or 0.0))
    print("matmul: %d bf16 8192^3 products, %.1f TFLOP/s" % (
        products, products * 2 * 8192 ** 3 / tasks["matmul"]["duration_s"] / 1e12))


if __name__ == "__main__":
    main()
