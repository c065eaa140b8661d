#!/usr/bin/python3
"""Speed yardstick: full training steps of the PyTorch reference (float32).

    /usr/bin/python3 bench_torch.py --method ts-dsae --stage 2 --z 16 --steps 10 --warmup 2 \
        --threads 1 --blas-threads 2 --json out.json

One step = zero_grad, forward (all loss terms), backward, Adam step (lr 1e-3) on
a random batch (B x T x F, all sequences full length, so nn.LSTM runs directly)
with freshly sampled noise and permutations. Reports median/mean/min step time
in ms and the peak RSS.

Threading (see README.md): torch.set_num_threads(--threads) sets PyTorch's
OpenMP pool; --blas-threads sets OPENBLAS_NUM_THREADS and --omp-wait-policy
sets OMP_WAIT_POLICY. Both are environment variables read when the libraries
load, so they are applied before torch is imported (an explicit flag wins over
the environment). On the 2-core project machine the best setting is
--threads 1 --blas-threads 2.
"""
import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="ts-dsae", choices=("dsae", "dsae-f", "ts-dsae-noreg", "ts-dsae"))
    ap.add_argument("--stage", type=int, default=2, choices=(1, 2))
    ap.add_argument("--q", default="factorised", choices=("factorised", "full"))
    ap.add_argument("--decoder", default="factorised", choices=("factorised", "richer"))
    ap.add_argument("--z", type=int, default=16)
    ap.add_argument("--v", type=int, default=16)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--T", type=int, default=251)
    ap.add_argument("--F", type=int, default=80)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    ap.add_argument("--blas-threads", type=int, help="OPENBLAS_NUM_THREADS (default: environment)")
    ap.add_argument("--omp-wait-policy", choices=("ACTIVE", "PASSIVE"), help="OMP_WAIT_POLICY")
    ap.add_argument("--skip-frozen-kl-z", action="store_true",
                    help="stage 1: do not run the frozen transition for the reported KL_z (no effect on training)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write the result here as JSON")
    args = ap.parse_args(argv)
    if args.skip_frozen_kl_z and args.q == "full":
        ap.error("--skip-frozen-kl-z would change the gradient with full q (KL_z reaches v there)")
    return args


def loaded_blas():
    """Path of the BLAS shared library mapped into this process."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            base = os.path.basename(path)
            if "blas" in base or "mkl_rt" in base:
                libs.add(os.path.realpath(path))
    return sorted(libs)


def main(argv=None):
    args = parse(argv)
    if args.blas_threads is not None:
        os.environ["OPENBLAS_NUM_THREADS"] = str(args.blas_threads)
    if args.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = args.omp_wait_policy

    import torch  # after the environment is set

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import dsae_ref as R

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    cfg = R.Config(method=args.method, stage=args.stage, q=args.q, decoder=args.decoder,
                   x_dim=args.F, v_dim=args.v, z_dim=args.z).validate()
    model = R.DSAE(cfg)
    model.take_snapshot()
    model.report_frozen_kl_z = not args.skip_frozen_kl_z
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3)
    T, B = args.T, args.batch
    x = torch.randn(T, B, args.F)
    mask = torch.ones(T, B)

    def step():
        inp = dict(x=x, mask=mask, eps_v=torch.randn(B, cfg.v_dim), eps_z=torch.randn(T, B, cfg.z_dim))
        if cfg.swaps:
            inp.update(eps_v_g=torch.randn(B, cfg.v_dim), eps_z_g=torch.randn(T, B, cfg.z_dim),
                       eps_v_l=torch.randn(B, cfg.v_dim), eps_z_l=torch.randn(T, B, cfg.z_dim),
                       perm_g=torch.randperm(B), perm_l=torch.randperm(B))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        terms = model(**inp)
        terms["loss"].backward()
        opt.step()
        return (time.perf_counter() - t0) * 1e3, float(terms["loss"])

    for _ in range(args.warmup):
        step()
    times, losses = [], []
    for _ in range(args.steps):
        ms, loss = step()
        times.append(ms)
        losses.append(loss)

    blas = loaded_blas()
    result = dict(
        method=cfg.method, stage=cfg.stage, q=cfg.q, decoder=cfg.decoder, z=cfg.z_dim, v=cfg.v_dim,
        batch=B, T=T, F=args.F, steps=args.steps, warmup=args.warmup,
        skip_frozen_kl_z=args.skip_frozen_kl_z, torch_threads=torch.get_num_threads(),
        OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS"),
        OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY"),
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS"),
        blas=blas, torch_version=torch.__version__, cpu=platform.processor() or platform.machine(),
        trainable_params=sum(p.numel() for p in params),
        median_ms=statistics.median(times), mean_ms=statistics.fmean(times), min_ms=min(times),
        max_ms=max(times), times_ms=times, final_loss=losses[-1],
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        loadavg_after=os.getloadavg(),
    )
    if any("/blas/libblas" in b or b.endswith("libblas.so.3.11.0") for b in blas) and not any(
            "openblas" in b for b in blas):
        print("WARNING: torch runs on the netlib reference BLAS; install libopenblas0-pthread for a fair yardstick",
              file=sys.stderr)
    line = (f"{cfg.method} stage {cfg.stage} q={cfg.q} dec={cfg.decoder} Z={cfg.z_dim} B={B} T={T}: "
            f"median {result['median_ms']:.1f} ms, mean {result['mean_ms']:.1f} ms, "
            f"peak RSS {result['peak_rss_mb']:.0f} MB (threads={result['torch_threads']}, "
            f"OPENBLAS_NUM_THREADS={result['OPENBLAS_NUM_THREADS']}, OMP_WAIT_POLICY={result['OMP_WAIT_POLICY']})")
    print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
