#!/usr/bin/python3
"""dsae-train graceful stop: SIGUSR1 (what `sbatch --signal=B:USR1@N` sends) and SIGTERM
(a time limit, preemption) make it write its checkpoint at the next step boundary and exit
with status 75; --resume then finishes the run bit-identically to an uninterrupted one
(weights, optimiser state, training state, best checkpoint, every metrics.jsonl value but
the timings), including an epoch stopped in the middle.

Exit 0 on success, 77 (ctest: skipped) when numpy is missing, 1 on failure.
"""
import json
import os
import signal
import struct
import subprocess
import sys
import time


EXIT_STOPPED = 75
from cli_common import checks, start  # noqa: E402

args, W = start(())
import numpy as np  # noqa: E402 (start() skips visibly without it)
_checks = checks()
check, failures, passed = _checks.check, _checks.failures, _checks.passed



def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    return {k: data[base + v["data_offsets"][0]: base + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}, header.get("__metadata__", {})


def metrics(run):
    rows = [json.loads(line) for line in open(W(run, "metrics.jsonl")).read().splitlines()]
    for r in rows:
        r.pop("seconds")
    return rows


# Many small steps per epoch (batch 2 over 96 training sequences), so that a signal lands
# mid-epoch far more often than between epochs, and enough epochs after the last signal
# that a fast machine cannot finish the run before it arrives (with 5 epochs of 24 steps
# the run sometimes ended first: exit 0 instead of 75).
rng = np.random.default_rng(1)
N, T, F = 120, 12, 8
inst = rng.integers(0, 2, N)
x = (rng.normal(size=(N, T, F)) * 0.3 + inst[:, None, None] * np.linspace(-1, 1, F)).astype(np.float32)
np.save(W("toy.npy"), x)
EPOCHS = 10
CMD = [args.exe, "--data", W("toy.npy"), "--method", "ts-dsae", "--z", "3", "--v", "2", "--batch", "2",
       "--stage1-epochs", "2", "--patience", "50", "--seed", "5", "--epochs", str(EPOCHS)]

# 1. Uninterrupted.
t0 = time.time()
r = subprocess.run(CMD + ["--out", W("a")], capture_output=True, text=True)
check(r.returncode == 0, f"uninterrupted run exits 0 (got {r.returncode}) in {time.time() - t0:.1f} s")


def checkpoint_epoch():
    """next_epoch of the committed checkpoint (-1 while there is none). The trainer writes
    metrics.jsonl, then best.safetensors, then the checkpoint (each with fsync, which takes
    longer than a whole epoch of batches on some disks), and starts the next epoch's batches
    right after: waiting for the checkpoint, not for the metrics line, puts the signal into
    the batches (a signal sent during the writes stops before batch 0: CI saw [0, 0])."""
    try:
        return int(read_safetensors(W("b", "checkpoint.safetensors"))[1].get("next_epoch", -1))
    except (FileNotFoundError, ValueError, struct.error):
        return -1


def interrupt(sig, after_epochs, extra, delay):
    """Starts dsae-train, sends `sig` `delay` s after the checkpoint of epoch `after_epochs`
    is committed; returns (rc, stdout, sent)."""
    p = subprocess.Popen(CMD + ["--out", W("b")] + extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 300
    sent = False
    while time.time() < deadline and p.poll() is None:
        if checkpoint_epoch() >= after_epochs:
            time.sleep(delay)  # into the next epoch's batches
            p.send_signal(sig)
            sent = True
            break
        time.sleep(0.001)
    out, _ = p.communicate(timeout=300)
    return p.returncode, out, sent


# Two stops (SIGUSR1, then SIGTERM on the resumed run), then more SIGUSR1 stops with other
# delays until one has fallen mid-epoch (timing-dependent, so retried rather than assumed;
# every stop and resume must keep the run bit-identical anyway).
partials = []
plan = [(signal.SIGUSR1, 0.002), (signal.SIGTERM, 0.005)] + [(signal.SIGUSR1, d) for d in (0.0, 0.001, 0.01, 0.02)]
after = 1
for k, (sig, delay) in enumerate(plan):
    if k >= 2 and any(b > 0 for b in partials):
        break
    after += 1
    rc, out, sent = interrupt(sig, after, [] if k == 0 else ["--resume"], delay)
    check(sent, f"{sig.name} sent {delay * 1000:.0f} ms after the checkpoint of epoch {after}")
    check(rc == EXIT_STOPPED, f"{sig.name}: dsae-train exits {EXIT_STOPPED} (got {rc})")
    check("stopped" in out and "--resume" in out, f"{sig.name}: the stop is reported: "
          + next((ln for ln in out.splitlines() if ln.startswith("stopped")), "(no line)"))
    check(not os.path.exists(W("b", "final.json")), f"{sig.name}: no final.json for a stopped run")
    _, meta = read_safetensors(W("b", "checkpoint.safetensors"))
    done = len(metrics("b"))
    check(int(meta.get("next_epoch", -1)) == done, f"{sig.name}: checkpoint at epoch {meta.get('next_epoch')} "
          f"= epochs in metrics.jsonl ({done})")
    partials.append(int(meta.get("partial_batches", 0)))
    print(f"     stopped in epoch {done + 1} before batch {partials[-1]} of 48, step {meta.get('step')}")
check(any(b > 0 for b in partials), f"at least one stop fell mid-epoch (batches {partials})")

# 3. Resume to the end.
r = subprocess.run(CMD + ["--out", W("b"), "--resume"], capture_output=True, text=True)
check(r.returncode == 0 and "resuming" in r.stdout, f"final resume exits 0 (got {r.returncode})")
ta, ma = read_safetensors(W("a", "checkpoint.safetensors"))
tb, mb = read_safetensors(W("b", "checkpoint.safetensors"))
diff = [k for k in ta if ta[k] != tb.get(k)]
check(ta.keys() == tb.keys() and not diff, f"final checkpoint bit-identical to the uninterrupted run (differs: {diff[:5]})")
check(ma == mb, "same checkpoint metadata (training state; no partial-epoch keys left)")
check(read_safetensors(W("a", "best.safetensors"))[0] == read_safetensors(W("b", "best.safetensors"))[0],
      "same best checkpoint")
check(metrics("a") == metrics("b"), "metrics.jsonl equal line by line (train terms of the stopped epochs included)")
check(not any(f.endswith(".tmp") for f in os.listdir(W("b"))), "no temporary files left behind")

print(f"{len(failures)} failure(s)")
sys.exit(1 if failures else 0)
