#!/usr/bin/python3
"""Compare PyTorch threading settings side by side (interleaved, so load drift on a
shared machine hits every setting alike).

    /usr/bin/python3 thread_sweep.py --rounds 3 --steps 5 -- --method ts-dsae --stage 2 --z 16

Everything after `--` is passed to bench_torch.py. Prints one line per setting:
the median over rounds of the per-run median step time, and the spread.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SETTINGS = {
    "torch1+blas2": ["--threads", "1", "--blas-threads", "2"],
    "torch1+blas1": ["--threads", "1", "--blas-threads", "1"],
    "torch2 (default)": ["--threads", "2"],
    "torch2+PASSIVE": ["--threads", "2", "--omp-wait-policy", "PASSIVE"],
    "torch1+blas2+PASSIVE": ["--threads", "1", "--blas-threads", "2", "--omp-wait-policy", "PASSIVE"],
}


def main():
    argv = sys.argv[1:]
    rest = []
    if "--" in argv:
        k = argv.index("--")
        argv, rest = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="subset of setting names")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    names = args.only or list(SETTINGS)
    runs = {n: [] for n in names}
    with tempfile.TemporaryDirectory() as d:
        for r in range(args.rounds):
            for n in names:
                out = os.path.join(d, "r.json")
                env = dict(os.environ)
                env.pop("OPENBLAS_NUM_THREADS", None)   # unset unless the setting names it
                env.pop("OMP_WAIT_POLICY", None)
                cmd = [sys.executable, os.path.join(HERE, "bench_torch.py"), *rest, *SETTINGS[n],
                       "--steps", str(args.steps), "--warmup", str(args.warmup), "--json", out]
                subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
                with open(out) as f:
                    res = json.load(f)
                runs[n].append(res)
                print(f"round {r} {n:22s} median {res['median_ms']:8.1f} ms  load {res['loadavg_after'][0]:.1f}",
                      flush=True)
    summary = {}
    for n in names:
        med = [x["median_ms"] for x in runs[n]]
        summary[n] = dict(median_ms=statistics.median(med), min_ms=min(med), max_ms=max(med),
                          peak_rss_mb=max(x["peak_rss_mb"] for x in runs[n]))
        print(f"{n:22s} median of medians {summary[n]['median_ms']:8.1f} ms  "
              f"(runs {min(med):.1f}..{max(med):.1f}), peak RSS {summary[n]['peak_rss_mb']:.0f} MB")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(args=rest, summary=summary, runs=runs), f, indent=1)


if __name__ == "__main__":
    main()
