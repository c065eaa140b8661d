#!/usr/bin/python3
"""Side-by-side training-step speed and peak memory: dsae (C++) vs the PyTorch reference.

    /usr/bin/python3 bench/compare/compare.py --build build-bench --out /tmp/cmp
    /usr/bin/python3 bench/compare/compare.py --build build-bench --out /tmp/cmp \
        --configs ts2-z16 --rounds 2 --steps 3          # quick (~2-4 min on the loaded machine)

Runs, in this one process tree and strictly one at a time, `dsae_step_bench` (ours) and
`bench/reference/bench_torch.py` (float32, Adam) under Debian's PyTorch 1.13 and, when a venv
with the current PyPI wheel is given (--torch-venv / $DSAE_TORCH_VENV), under that too, for each configuration,
interleaved (ours, torch, ours, torch, ...) for --rounds rounds so that load drift on the
shared machine hits both alike. Each run does --warmup untimed and --steps timed steps and
reports its median step time; a cell of the table is the median over rounds of those
per-run medians, for the best thread setting of each side (the yardstick is the faster PyTorch
build at its best setting), and again with both sides on 1 thread (per core: what each run of a
one-job-per-core grid gets). Ours also reports its product arithmetic per step and the share of
the register-only FMA peak it reaches (bench/common/fma_peak.hpp). Peak memory is the peak RSS
of the process (getrusage), the max over that setting's runs.

Writes to --out: runs.json / runs.csv (every run), summary.json / summary.csv / summary.md
(the table). Prints the markdown table.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TORCH_BENCH = os.path.join(ROOT, "bench", "reference", "bench_torch.py")

# name -> (description, bench arguments shared by both sides, slow)
CONFIGS = {
    "ts1-z16": ("TS-DSAE stage 1, factorised, Z=16", dict(method="ts-dsae", stage=1, q="factorised", z=16), False),
    "dsae-z16": ("DSAE, factorised, Z=16", dict(method="dsae", stage=2, q="factorised", z=16), False),
    "ts2-z8": ("TS-DSAE stage 2, factorised, Z=8", dict(method="ts-dsae", stage=2, q="factorised", z=8), False),
    "ts2-z16": ("TS-DSAE stage 2, factorised, Z=16", dict(method="ts-dsae", stage=2, q="factorised", z=16), False),
    "ts2-z32": ("TS-DSAE stage 2, factorised, Z=32", dict(method="ts-dsae", stage=2, q="factorised", z=32), False),
    "ts2-full-z16": ("TS-DSAE stage 2, full q, Z=16", dict(method="ts-dsae", stage=2, q="full", z=16), True),
}

# env, extra arguments. omp2e1: 2 OpenMP threads for the library's own splitting, Eigen's
# internal GEMM threading off (it forks a team for every small per-time-step LSTM product).
OURS_SETTINGS = {"omp1": ({"OMP_NUM_THREADS": "1"}, []), "omp2": ({"OMP_NUM_THREADS": "2"}, []),
                 "omp2e1": ({"OMP_NUM_THREADS": "2"}, ["--eigen-threads", "1"])}
# PyTorch settings: (build, arguments, environment). "deb" = Debian's python3-torch (1.13,
# OpenBLAS; its best is --threads 1 with 1 or 2 BLAS threads, bench/reference/README.md);
# "venv" = the current PyPI wheel (MKL + oneDNN) in the virtual environment given by
# --torch-venv or $DSAE_TORCH_VENV (python -m venv V && V/bin/pip install torch numpy),
# intra-op threads = MKL threads = OMP threads = N.
TORCH_SETTINGS = {"t1b2": ("deb", ["--threads", "1", "--blas-threads", "2"], {}),
                  "t1b1": ("deb", ["--threads", "1", "--blas-threads", "1"], {}),
                  "v2": ("venv", ["--threads", "2", "--blas-threads", "2"], {"MKL_NUM_THREADS": "2", "OMP_NUM_THREADS": "2"}),
                  "v1": ("venv", ["--threads", "1", "--blas-threads", "1"], {"MKL_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})}
ONE_THREAD = {"omp1", "t1b1", "v1"}  # the per-core columns


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"), help="CMake build dir with dsae_step_bench")
    ap.add_argument("--exe", help="path of dsae_step_bench (default: <build>/bench/compare/dsae_step_bench)")
    ap.add_argument("--out", required=True, help="folder for the JSON/CSV/markdown results")
    ap.add_argument("--configs", default="all", help="comma-separated subset of: " + ", ".join(CONFIGS))
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repetitions of every run")
    ap.add_argument("--steps", type=int, default=5, help="timed steps per run")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps per run")
    ap.add_argument("--slow-steps", type=int, default=2, help="timed steps per run for full q")
    ap.add_argument("--slow-warmup", type=int, default=1, help="untimed steps per run for full q")
    ap.add_argument("--ours", default="omp1,omp2", help="our thread settings: " + ", ".join(OURS_SETTINGS))
    ap.add_argument("--torch", default="t1b2,t1b1,v2,v1",
                    help="PyTorch settings: " + ", ".join(TORCH_SETTINGS) + " (v*: only with a venv)")
    ap.add_argument("--torch-venv", default=os.environ.get("DSAE_TORCH_VENV"),
                    help="virtual environment with the current PyTorch wheel (default: $DSAE_TORCH_VENV)")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--T", type=int, default=251)
    ap.add_argument("--F", type=int, default=80)
    ap.add_argument("--timeout", type=float, default=1200, help="seconds per run before it is killed")
    ap.add_argument("--from-runs", help="do not run: re-summarise a runs.json written earlier")
    args = ap.parse_args(argv)
    names = list(CONFIGS) if args.configs == "all" else [c.strip() for c in args.configs.split(",") if c.strip()]
    bad = [c for c in names if c not in CONFIGS]
    if bad:
        ap.error(f"unknown config(s) {bad}; choose from {list(CONFIGS)}")
    args.config_names = names
    args.ours_list = [s.strip() for s in args.ours.split(",") if s.strip()]
    args.torch_list = [s.strip() for s in args.torch.split(",") if s.strip()]
    for s in args.ours_list:
        if s not in OURS_SETTINGS:
            ap.error(f"unknown --ours setting {s!r}; choose from {list(OURS_SETTINGS)}")
    for s in args.torch_list:
        if s not in TORCH_SETTINGS:
            ap.error(f"unknown --torch setting {s!r}; choose from {list(TORCH_SETTINGS)}")
    venv_py = os.path.join(args.torch_venv, "bin", "python") if args.torch_venv else None
    args.venv_python = venv_py if venv_py and os.access(venv_py, os.X_OK) else None
    if any(TORCH_SETTINGS[s][0] == "venv" for s in args.torch_list) and not args.venv_python and not args.from_runs:
        print(f"compare.py: no PyTorch venv ({args.torch_venv or 'set --torch-venv or $DSAE_TORCH_VENV'}): the "
              "yardstick is Debian's PyTorch only", file=sys.stderr, flush=True)
        args.torch_list = [s for s in args.torch_list if TORCH_SETTINGS[s][0] != "venv"]
    if not args.ours_list or not args.torch_list:
        ap.error("need at least one setting per side")
    args.exe = args.exe or os.path.join(args.build, "bench", "compare", "dsae_step_bench")
    if not args.from_runs and not os.access(args.exe, os.X_OK):
        ap.error(f"{args.exe} is not an executable: build the target dsae_step_bench first")
    return args


def common_args(cfg, args, slow):
    steps, warmup = (args.slow_steps, args.slow_warmup) if slow else (args.steps, args.warmup)
    return ["--method", cfg["method"], "--stage", str(cfg["stage"]), "--q", cfg["q"], "--decoder", "factorised",
            "--z", str(cfg["z"]), "--batch", str(args.batch), "--T", str(args.T), "--F", str(args.F),
            "--steps", str(steps), "--warmup", str(warmup)]


def run_one(impl, setting, name, args, tmp):
    desc, cfg, slow = CONFIGS[name]
    out_json = os.path.join(tmp, f"{impl}-{setting}-{name}.json")
    env = dict(os.environ)
    if impl == "dsae":
        env.update(OURS_SETTINGS[setting][0])
        cmd = [args.exe] + common_args(cfg, args, slow) + OURS_SETTINGS[setting][1] + ["--json", out_json]
    else:
        build, extra, tenv = TORCH_SETTINGS[setting]
        env.pop("OMP_NUM_THREADS", None)
        env.update(tenv)
        python = args.venv_python if build == "venv" else "/usr/bin/python3"
        # Stage 1 with factorised q: KL_z has no gradient; dsae's training step skips
        # it (and the frozen transition), so PyTorch is asked to do the same.
        lean = ["--skip-frozen-kl-z"] if cfg["stage"] == 1 and cfg["q"] == "factorised" else []
        cmd = [python, TORCH_BENCH] + common_args(cfg, args, slow) + lean + extra + ["--json", out_json]
    load_before = os.getloadavg()
    t0 = time.time()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=args.timeout)
    wall = time.time() - t0
    if p.returncode != 0:
        raise RuntimeError(f"{impl} {setting} {name} failed (exit {p.returncode}):\n{' '.join(cmd)}\n{p.stderr[-3000:]}")
    with open(out_json) as f:
        r = json.load(f)
    rec = dict(impl=impl, setting=setting, config=name, median_ms=r["median_ms"], mean_ms=r["mean_ms"],
               torch_version=r.get("torch_version"), gflop_per_step=r.get("gflop_per_step"),
               fma_peak_gflops=r.get("fma_peak_gflops"), pct_fma_peak=r.get("pct_fma_peak"),
               min_ms=r["min_ms"], max_ms=r.get("max_ms"), peak_rss_mb=r["peak_rss_mb"], steps=len(r["times_ms"]),
               times_ms=r["times_ms"], wall_s=wall, load_before=load_before[0], load_after=os.getloadavg()[0])
    print(f"  {impl:5s} {setting:6s} {name:13s} median {rec['median_ms']:9.1f} ms  rss {rec['peak_rss_mb']:6.0f} MB"
          f"  load {load_before[0]:.1f}", flush=True)
    return rec


def cell(runs, impl, setting, name):
    """Median over rounds of the per-run medians of one side/setting, with its runs."""
    rs = [r for r in runs if r["impl"] == impl and r["setting"] == setting and r["config"] == name]
    return (statistics.median(r["median_ms"] for r in rs), rs) if rs else (None, [])


def summarise(runs, names, args):
    """One row per configuration: every setting's median, the best of each side (any thread
    count; the yardstick is the faster PyTorch build at its best setting), the 1-thread
    (per-core) figures, ratios, the step's share of the FMA peak, peak memory."""
    rows = []
    for name in names:
        ours = {s: cell(runs, "dsae", s, name) for s in args.ours_list}
        torch = {s: cell(runs, "torch", s, name) for s in args.torch_list}
        ours = {s: v for s, v in ours.items() if v[0] is not None}
        torch = {s: v for s, v in torch.items() if v[0] is not None}
        o_best = min(ours, key=lambda s: ours[s][0])
        t_best = min(torch, key=lambda s: torch[s][0])
        o1 = [s for s in ours if s in ONE_THREAD]
        t1 = [s for s in torch if s in ONE_THREAD]
        o1 = min(o1, key=lambda s: ours[s][0]) if o1 else None
        t1 = min(t1, key=lambda s: torch[s][0]) if t1 else None

        def pct(setting):
            vals = [r["pct_fma_peak"] for r in ours[setting][1] if r.get("pct_fma_peak") is not None]
            return statistics.median(vals) if vals else None

        def rss(side):
            return max(r["peak_rss_mb"] for v in side.values() for r in v[1])
        gf = [r["gflop_per_step"] for v in ours.values() for r in v[1] if r.get("gflop_per_step")]
        versions = sorted({f"{TORCH_SETTINGS[s][0]}={r.get('torch_version')}" for s, v in torch.items() for r in v[1]})
        loads = [r["load_before"] for r in runs if r["config"] == name]
        rows.append(dict(
            config=name, description=CONFIGS[name][0], rounds=len(ours[o_best][1]),
            ours_all={s: round(v[0], 1) for s, v in ours.items()}, torch_all={s: round(v[0], 1) for s, v in torch.items()},
            ours_setting=o_best, ours_ms=ours[o_best][0], torch_setting=t_best, torch_ms=torch[t_best][0],
            speedup=torch[t_best][0] / ours[o_best][0],
            ours_1t_ms=ours[o1][0] if o1 else None, torch_1t_setting=t1, torch_1t_ms=torch[t1][0] if t1 else None,
            speedup_1t=(torch[t1][0] / ours[o1][0]) if o1 and t1 else None,
            pct_fma_peak_best=pct(o_best), pct_fma_peak_1t=pct(o1) if o1 else None,
            gflop_per_step=statistics.median(gf) if gf else None,
            ours_rss_mb=rss(ours), torch_rss_mb=rss(torch), torch_versions=versions,
            load_median=statistics.median(loads)))
    return rows


def fmt(x, spec=".0f", none="-"):
    return none if x is None else format(x, spec)


def markdown(rows):
    out = ["| configuration | ours best ms (setting) | ours 1 thr | PyTorch best ms (setting) | PyTorch 1 thr (setting)"
           " | best/best | 1 thr/1 thr | GFLOP/step | % FMA peak best / 1 thr | peak RSS ours / torch MB | load |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['description']} | {r['ours_ms']:.0f} ({r['ours_setting']}) | {fmt(r['ours_1t_ms'])} |"
                   f" {r['torch_ms']:.0f} ({r['torch_setting']}) | {fmt(r['torch_1t_ms'])} ({r['torch_1t_setting']}) |"
                   f" **{r['speedup']:.2f}x** | **{fmt(r['speedup_1t'], '.2f')}x** | {fmt(r['gflop_per_step'], '.1f')} |"
                   f" {fmt(r['pct_fma_peak_best'], '.0f')} / {fmt(r['pct_fma_peak_1t'], '.0f')} % |"
                   f" {r['ours_rss_mb']:.0f} / {r['torch_rss_mb']:.0f} | {r['load_median']:.1f} |")
    return "\n".join(out)


def main(argv=None):
    args = parse(argv)
    os.makedirs(args.out, exist_ok=True)
    runs = []
    if args.from_runs:
        with open(args.from_runs) as f:
            runs = json.load(f)["runs"]
        have = {r["config"] for r in runs}
        args.config_names = [c for c in args.config_names if c in have]
        args.rounds = 0
    print(f"configs {args.config_names}, {args.rounds} rounds, ours {args.ours_list}, torch {args.torch_list}",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for rnd in range(args.rounds):
            print(f"round {rnd + 1}/{args.rounds}", flush=True)
            for name in args.config_names:
                # Interleave: ours(s1), torch(s1), ours(s2), torch(s2), ...; alternate who goes first per round.
                pairs = []
                n = max(len(args.ours_list), len(args.torch_list))
                for k in range(n):
                    a = ("dsae", args.ours_list[k]) if k < len(args.ours_list) else None
                    b = ("torch", args.torch_list[k]) if k < len(args.torch_list) else None
                    pair = [x for x in ((a, b) if rnd % 2 == 0 else (b, a)) if x]
                    pairs += pair
                for impl, setting in pairs:
                    rec = run_one(impl, setting, name, args, tmp)
                    rec["round"] = rnd
                    runs.append(rec)
    rows = summarise(runs, args.config_names, args)
    with open(os.path.join(args.out, "runs.json"), "w") as f:
        json.dump(dict(args={k: v for k, v in vars(args).items()}, runs=runs), f, indent=1)
    with open(os.path.join(args.out, "runs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        keys = ["round", "config", "impl", "setting", "median_ms", "mean_ms", "min_ms", "max_ms", "peak_rss_mb",
                "steps", "wall_s", "load_before", "load_after"]
        w.writerow(keys)
        for r in runs:
            w.writerow([r[k] for k in keys])
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(rows, f, indent=1)
    with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        keys = ["config", "description", "ours_ms", "ours_setting", "torch_ms", "torch_setting", "speedup",
                "ours_1t_ms", "torch_1t_ms", "torch_1t_setting", "speedup_1t", "gflop_per_step",
                "pct_fma_peak_best", "pct_fma_peak_1t", "ours_rss_mb", "torch_rss_mb", "rounds", "load_median"]
        w.writerow(keys)
        for r in rows:
            w.writerow([r[k] for k in keys])
    md = markdown(rows)
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write(md + "\n")
    print()
    print(md)
    for r in rows:
        print(f"{r['config']}: ours {r['ours_all']}  torch {r['torch_all']}  ({', '.join(r['torch_versions'])})")
    print(f"load before/after: {runs[0]['load_before'] if runs else '-'} / {os.getloadavg()[0]:.2f}; "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
