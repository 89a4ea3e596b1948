"""bench_nvml_task.py - a codegreen.Session task under a CUDA load, checked against the driver's
own energy counter read independently.

    python3 bench/bench_nvml_task.py [--seconds S] [--report PATH]
    python3 bench/bench_nvml_task.py --load-only S     (the matmul load alone, no codegreen)

Needs an NVIDIA GPU, PyTorch with CUDA, and codegreen importable (PYTHONPATH=python,
CODEGREEN_LIB_PATH=build/lib/libcodegreen-nemb.so). Each round runs four tasks in turn:
  idle         time.sleep(S)
  matmul       0.5 s asleep, bf16 8192 x 8192 matrix products for S seconds, 0.5 s asleep: both
               ends fall in steady (idle) power
  matmul_edge  the products alone: the task's ends are the power's steps
  idle_after   time.sleep(S), the GPU coming back down
Around each task this script reads nvmlDeviceGetTotalEnergyConsumption itself (ctypes, mJ), right
before start_task and right after stop_task. That reading is the counter's latest update, up to
one update period old, so the difference is the task's energy shifted by that lag at both ends:
where both ends are in steady power the shifts cancel (matmul, idle), where an end is a power
step they do not (matmul_edge, idle_after), and the comparison there says more about the
reference than about the task. Figures, not a test.
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
    ap.add_argument("--rounds", type=int, default=2)
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
    t0 = time.monotonic()
    s = codegreen.Session("nvml-task", output_file=args.report)
    s.start()
    begin_s = time.monotonic() - t0
    products = 0
    for r in range(args.rounds):
        for name in ("idle", "matmul", "matmul_edge", "idle_after"):
            before = read_j()
            s.start_task(name)
            if name == "matmul":
                time.sleep(0.5)
                products += matmul_for(torch, args.seconds)
                time.sleep(0.5)
            elif name == "matmul_edge":
                products += matmul_for(torch, args.seconds)
            else:
                time.sleep(args.seconds)
            s.stop_task(name)
            rows.append((name, read_j() - before))
    s.stop()
    meta = s.report["meta"]
    print("Session start (NVML opened, its update period measured): %.3f s" % begin_s)
    print("sampler: %s" % json.dumps(meta["sampler"]))
    print("providers: %s" % json.dumps(meta["domain_topology"]))
    print("%-12s %8s %11s %11s %8s %9s" % ("task", "seconds", "gpu0 J", "counter J", "diff %",
                                           "± J"))
    for (name, counter_j), t in zip(rows, s.report["tasks"]):
        assert t["name"] == name
        gpu = t["domains"].get("gpu0", float("nan"))
        print("%-12s %8.3f %11.3f %11.3f %8.2f %9.3f" % (
            name, t["duration_s"], gpu, counter_j, 100.0 * (gpu - counter_j) / counter_j,
            t.get("energy_uncertainty_j") or 0.0))
    print("matmul: %d bf16 8192^3 products" % products)
    print("session: energy_j %.3f, quality %s, warnings %s" % (
        s.report["totals"]["energy_j"], meta["measurement_quality"], meta["sampler"]["warnings"]))

if __name__ == "__main__":
    main()
