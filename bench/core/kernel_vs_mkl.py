#!/usr/bin/python3
"""The tiled product kernel (kernel_shapes) beside MKL's sgemm (torch.mm of a venv's
PyTorch wheel, MKL inside) on the training step's frame-wise shapes, 1 thread each.

    DSAE_TORCH_VENV=V /usr/bin/python3 bench/core/kernel_vs_mkl.py --build build

Prints a markdown table (GFLOP/s and % of the register-only FMA peak). MKL is a
yardstick here, not a dependency. Without a venv it says so and prints ours only.
"""
import argparse
import json
import os
import subprocess
import sys

TORCH_SNIPPET = r"""
import json, sys, time, torch
torch.set_num_threads(1)
for name, M, N, K, wg in json.loads(sys.argv[1]):
    if wg:   # C (M x N) = A^T B, A: K x M
        a, b = torch.rand(K, M), torch.rand(K, N)
        f = lambda: torch.mm(a.t(), b)
    else:    # C = A W^T, A: M x K, W: N x K
        a, w = torch.rand(M, K), torch.rand(N, K)
        f = lambda: torch.mm(a, w.t())
    f()
    best = 1e30
    for _ in range(15):
        t0 = time.perf_counter(); f(); best = min(best, time.perf_counter() - t0)
    print(json.dumps(dict(impl="mkl", shape=name, gflops=2.0 * M * N * K / best * 1e-9)))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--torch-venv", default=os.environ.get("DSAE_TORCH_VENV"))
    args = ap.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    ours = [json.loads(l) for l in subprocess.run([os.path.join(args.build, "bench", "core", "kernel_shapes")],
                                                  env=env, check=True, capture_output=True, text=True).stdout.splitlines()]
    mkl = {}
    if args.torch_venv:
        shapes = [(r["shape"], r["M"], r["N"], r["K"], r["shape"].startswith("dW")) for r in ours]
        out = subprocess.run([os.path.join(args.torch_venv, "bin", "python"), "-c", TORCH_SNIPPET, json.dumps(shapes)],
                             env=env, check=True, capture_output=True, text=True).stdout
        mkl = {r["shape"]: r["gflops"] for r in map(json.loads, out.splitlines())}
    else:
        print("no venv with PyTorch (--torch-venv / $DSAE_TORCH_VENV): MKL column SKIPPED", file=sys.stderr)
    peak = ours[0]["fma_peak_gflops"]
    print(f"FMA peak (1 thread, register-only loop): {peak:.1f} GFLOP/s\n")
    print("| shape (M x N x K) | dsae GFLOP/s (% peak) | MKL sgemm GFLOP/s (% peak) |")
    print("|---|---|---|")
    for r in ours:
        m = mkl.get(r["shape"])
        mcol = f"{m:.0f} ({100 * m / peak:.0f} %)" if m else "-"
        print(f"| {r['shape']} ({r['M']} x {r['N']} x {r['K']}) | {r['gflops']:.0f} ({r['pct_fma_peak']:.0f} %) | {mcol} |")


if __name__ == "__main__":
    main()
