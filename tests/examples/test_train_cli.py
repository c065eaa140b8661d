#!/usr/bin/python3
"""dsae-train end to end: training, kill -9 and resume (bit-identical), bad input.

Exit 0 on success, 77 (ctest: skipped) when numpy is missing, 1 on failure.
"""
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time

from cli_common import checks, start  # noqa: E402

args, W = start(())
import numpy as np  # noqa: E402 (start() skips visibly without it)
_checks = checks()
check, failures, passed = _checks.check, _checks.failures, _checks.passed



def read_tensors(path):
    """Raw bytes of every tensor of a safetensors file (name -> bytes)."""
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    return {k: data[base + v["data_offsets"][0]: base + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}, header.get("__metadata__", {})


rng = np.random.default_rng(0)
N, T, F = 40, 10, 6
inst = rng.integers(0, 2, N)
x = (rng.normal(size=(N, T, F)) * 0.3 + inst[:, None, None] * np.linspace(-1, 1, F)).astype(np.float32)
np.save(W("toy.npy"), x)
OPTS = {"--data": W("toy.npy"), "--method": "ts-dsae", "--z": "3", "--v": "2", "--batch": "8",
        "--stage1-epochs": "2", "--patience": "50", "--seed": "7"}


def opts(**over):
    d = dict(OPTS)
    d.update({"--" + k.replace("_", "-"): v for k, v in over.items()})
    return [a for kv in d.items() for a in kv]


common = opts()
EPOCHS = 9


def train(out, *extra, check_rc=True):
    r = subprocess.run([args.exe, *common, "--epochs", str(EPOCHS), "--out", out, *extra],
                       capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        print(r.stdout, r.stderr)
    return r


# 1. An uninterrupted run.
r = train(W("a"))
check(r.returncode == 0, "uninterrupted run finishes")
check("epoch     9/9 stage 2" in r.stdout and "ETA" in r.stdout, "progress lines show epoch, stage and ETA")
lines = open(W("a", "metrics.jsonl")).read().splitlines()
check(len(lines) == EPOCHS and json.loads(lines[-1])["epoch"] == EPOCHS - 1, "one metrics.jsonl line per epoch")
check(json.loads(lines[0])["stage"] == 1 and json.loads(lines[2])["stage"] == 2, "stage switch at C = 2")
check(os.path.exists(W("a", "best.safetensors")), "best checkpoint written")

# 2. The same run killed with SIGKILL mid-training, then resumed.
p = subprocess.Popen([args.exe, *common, "--epochs", str(EPOCHS), "--out", W("b")],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 300
killed_after = None
while time.time() < deadline and p.poll() is None:
    try:
        n = len(open(W("b", "metrics.jsonl")).read().splitlines())
    except FileNotFoundError:
        n = 0
    if n >= 4:  # past the stage switch: the snapshot must survive the kill
        p.send_signal(signal.SIGKILL)
        killed_after = n
        break
    time.sleep(0.005)
p.wait()
check(killed_after is not None, "run b was killed mid-training (after %s epochs)" % killed_after)
r = train(W("b"))
check(r.returncode != 0 and "--resume" in r.stderr, "a killed run is not restarted without --resume")
r = train(W("b"), "--resume")
check(r.returncode == 0 and "resuming" in r.stdout, "resume finishes")
ta, ma = read_tensors(W("a", "checkpoint.safetensors"))
tb, mb = read_tensors(W("b", "checkpoint.safetensors"))
check(ta.keys() == tb.keys(), "same tensors in both checkpoints")
diff = [k for k in ta if ta[k] != tb[k]]
check(not diff, "killed + resumed run is bit-identical to the uninterrupted run (differs: %s)" % diff[:5])
check(ma.get("step") == mb.get("step") and ma.get("best_epoch") == mb.get("best_epoch"), "same training state")
check(read_tensors(W("a", "best.safetensors"))[0] == read_tensors(W("b", "best.safetensors"))[0],
      "same best checkpoint")
check(not any(f.endswith(".tmp") for f in os.listdir(W("b"))), "no temporary files left behind")

# 3. Bad input.
r = train(W("a"))
check(r.returncode != 0 and "finished run" in r.stderr, "a finished run is never overwritten silently")
r = subprocess.run([args.exe, *opts(z="5"), "--epochs", "3", "--out", W("a"), "--resume"],
                   capture_output=True, text=True)
check(r.returncode != 0 and "'z'" in r.stderr, "resume with another latent size is refused: " + r.stderr.strip())
bad = x.copy()
bad[3, 4, 2] = np.nan
np.save(W("nan.npy"), bad)
r = subprocess.run([args.exe, "--data", W("nan.npy"), "--out", W("c"), "--epochs", "1", "--stage1-epochs", "0"], capture_output=True,
                   text=True)
check(r.returncode != 0 and "nan.npy" in r.stderr and "NaN" in r.stderr, "NaN data: " + r.stderr.strip())
check(not os.path.exists(W("c", "checkpoint.safetensors")), "nothing written for bad data")
np.save(W("two_d.npy"), x[:, :, 0])
r = subprocess.run([args.exe, "--data", W("two_d.npy"), "--out", W("d"), "--epochs", "1", "--stage1-epochs", "0"], capture_output=True,
                   text=True)
check(r.returncode != 0 and "two_d.npy" in r.stderr, "wrong rank: " + r.stderr.strip())
# A checkpoint of another variant cannot be loaded.
os.makedirs(W("e"))
shutil.copy(W("a", "checkpoint.safetensors"), W("e", "checkpoint.safetensors"))
# A run folder is recognised by its config.json's marker (issue 19): give "e" one, of dsae.
with open(W("a", "config.json")) as f:
    cfg_e = json.load(f)
cfg_e["method"] = "dsae"
with open(W("e", "config.json"), "w") as f:
    json.dump(cfg_e, f)
r = subprocess.run([args.exe, *opts(method="dsae"), "--epochs", "3", "--out", W("e"), "--resume"],
                   capture_output=True, text=True)
check(r.returncode != 0 and "variant" in r.stderr, "checkpoint of another variant refused: " + r.stderr.strip())

print("%d passed, %d failed" % (passed[0], len(failures)))
sys.exit(1 if failures else 0)
