#!/usr/bin/python3
"""PyTorch peer of bench_thrust: the same module benchmarks, side by side.

    /usr/bin/python3 torch_modules.py [--device cuda|cpu] [--steps N] [--warmup W] [--markdown FILE]

forward + backward of
  mlp:  (T*B = 32128) x 80 -> Linear(80, 64) -> tanh -> Linear(64, 64) -> tanh
  lstm: nn.LSTM(80, 32), T = 251, B = 128 (time-major input, zero state)
with parameter gradients (and the LSTM's input gradient), float32. Prints
markdown rows in bench_thrust's format (median / min ms over N steps).
"""
import argparse
import statistics
import sys
import time


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave)")
    ap.add_argument("--markdown")
    a = ap.parse_args(argv)
    try:
        import torch
    except ImportError:
        print("SKIPPED: torch not importable")
        return 77
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print("SKIPPED: torch has no CUDA device")
        return 77
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"host, {torch.get_num_threads()} threads"
    T, B, F = 251, 128, 80
    torch.manual_seed(0)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    def timed(step):
        for _ in range(a.warmup):
            step()
        sync()
        ms = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            sync()
            ms.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(ms), min(ms)

    mlp = torch.nn.Sequential(torch.nn.Linear(F, 64), torch.nn.Tanh(), torch.nn.Linear(64, 64), torch.nn.Tanh()).to(dev)
    x = torch.rand(T * B, F, device=dev) * 2 - 1
    dy = torch.rand(T * B, 64, device=dev) * 2 - 1

    def mlp_step():
        mlp.zero_grad(set_to_none=False)
        mlp(x).backward(dy)

    lstm = torch.nn.LSTM(F, 32).to(dev)
    xs = (torch.rand(T, B, F, device=dev) * 2 - 1).requires_grad_(True)
    dys = torch.rand(T, B, 32, device=dev) * 2 - 1

    def lstm_step():
        lstm.zero_grad(set_to_none=False)
        xs.grad = None
        lstm(xs)[0].backward(dys)

    rows = []
    for bench, step in (("mlp 32128x80->64->64 fwd+bwd", mlp_step), ("lstm T=251 B=128 80->32 fwd+bwd", lstm_step)):
        med, mn = timed(step)
        rows.append(f"| {bench} | torch {torch.__version__} | {name} | {med:.4g} | {mn:.4g} | {a.steps} |")
        print(rows[-1], flush=True)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(rows) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
