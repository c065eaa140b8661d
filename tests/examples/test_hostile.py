#!/usr/bin/python3
"""Reliability round 2 (issue 19): a hostile co-user of a shared scratch folder and a careful
user. Symlinks and FIFOs planted in run folders, folders written by other tools, datasets
replaced in place, special files, octal-looking numbers, hostile checkpoint metadata and
config.json sizes, exceptions inside OpenMP regions. Same style as test_reliability.py.

Exit 0 on success, 77 (ctest: skipped) when numpy is missing, 1 on failure.
"""
import fcntl
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

from cli_common import checks, run_cmd, start  # noqa: E402

args, W = start(("--data-exe", "--eval-exe"))
import numpy as np  # noqa: E402 (start() skips visibly without it)
_checks = checks()
check, failures, passed = _checks.check, _checks.failures, _checks.passed
t_start = time.time()




def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def err(r):
    return r.stderr.strip()[-300:]


rng = np.random.default_rng(0)
N, T, F = 24, 8, 5
x = (rng.normal(size=(N, T, F)) * 0.3).astype(np.float32)
np.save(W("toy.npy"), x)
BASE = ["--data", W("toy.npy"), "--method", "ts-dsae", "--z", "2", "--v", "2", "--batch", "8",
        "--stage1-epochs", "1", "--patience", "50", "--seed", "3", "--quiet"]


def train(out, *extra, epochs=2, env=None, data=None, timeout=120):
    """dsae-train on BASE; an option of `extra` that BASE has replaces BASE's value."""
    base, extra = list(BASE), list(extra)
    for i in range(len(extra) - 1):
        if extra[i] and extra[i].startswith("--") and extra[i] in base and not extra[i + 1].startswith("--"):
            base[base.index(extra[i]) + 1] = extra[i + 1]
            extra[i] = extra[i + 1] = None
    cmd = [args.exe, *base, "--epochs", str(epochs), "--out", out, *[e for e in extra if e is not None]]
    if data:
        cmd[cmd.index("--data") + 1] = data
    return run_cmd(cmd, env, timeout)


def meta_of(path):
    data = read(path)
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), n, data


def rewrite_safetensors(path, header, data, n):
    """Writes `header` (a dict) back with the same data bytes (header padded with spaces)."""
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    write(path, struct.pack("<Q", len(h)) + h + data[8 + n:])


r = train(W("ref"))
check(r.returncode == 0, "reference run " + err(r))

# ---- 1. a folder is a run only by dsae's marker ---------------------------------------------
os.makedirs(W("torch", "examples"))
write(W("torch", "config.json"), b'{"method": "dsae", "stage1_epochs": 10, "lr": 0.001}\n')
for name in ("best.safetensors", "metrics.jsonl", "eval.json", os.path.join("examples", "a.wav")):
    write(W("torch", name), b"the user's " + name.encode())
r = train(W("torch"))
kept = all(read(W("torch", n)) == b"the user's " + n.encode()
           for n in ("best.safetensors", "metrics.jsonl", "eval.json", os.path.join("examples", "a.wav")))
check(r.returncode == 2 and kept and "does not look like a dsae-train run" in r.stderr,
      "1: a PyTorch run's folder (config.json with method + stage1_epochs) is refused, nothing removed: " + err(r))
r = train(W("torch"), "--resume")
check(r.returncode == 2 and read(W("torch", "eval.json")) == b"the user's eval.json",
      "1: ... also with --resume: " + err(r))

# ---- 2. links planted in a run folder are never followed -------------------------------------
victim = W("thesis.tex")
write(victim, b"my thesis")
os.makedirs(W("sl"))
os.symlink(victim, W("sl", ".lock"))
r = train(W("sl"))
check(r.returncode == 2 and read(victim) == b"my thesis" and "symbolic link" in r.stderr,
      "2: a .lock linked to the user's file is refused, the target untouched: " + err(r))
os.makedirs(W("hl"))
os.link(victim, W("hl", ".lock"))
r = train(W("hl"))
check(r.returncode == 2 and read(victim) == b"my thesis" and "hard link" in r.stderr,
      "2: a .lock hard-linked to the user's file is refused: " + err(r))
os.makedirs(W("tl"))
for name in ("config.json.tmp", "checkpoint.safetensors.tmp", "metrics.jsonl.tmp", "best.safetensors.tmp"):
    os.symlink(victim, W("tl", name))
r = train(W("tl"))
check(r.returncode == 0 and read(victim) == b"my thesis",
      "2: links planted at the temporaries' names are replaced, their target untouched: " + err(r))
check(not any(os.path.islink(W("tl", n)) for n in os.listdir(W("tl"))), "2: ... and no link is left")

# ---- 19. validate first, create second -------------------------------------------------------
r = train(W("torch2", "sub"), "--method", "dsae-f", "--stage1-epochs", "5", epochs=2)
check(r.returncode == 2 and "--stage1-epochs" in r.stderr and not os.path.exists(W("torch2")),
      "19: dsae-f's stage-1 check runs before the folder exists: " + err(r))
r = train(W("torch"))
check(not os.path.exists(W("torch", ".lock")), "19: a refused --out gets no .lock")
r = train("")
check(r.returncode == 2 and "empty" in r.stderr and "filesystem" not in r.stderr, "14: --out '': " + err(r))
os.makedirs(W("ro"))
os.chmod(W("ro"), 0o555)
as_user = []  # root ignores permissions: run as nobody where setpriv exists
if os.geteuid() == 0 and shutil.which("setpriv"):
    as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    os.chmod(args.work, 0o755)
    os.chmod(W("toy.npy"), 0o644)
if os.geteuid() != 0 or as_user:
    r = run_cmd(as_user + [args.exe, *BASE, "--epochs", "2", "--out", W("ro", "run")])
    check(r.returncode == 2 and "Permission denied" in r.stderr and "No such file" not in r.stderr,
          "14: a read-only parent gives the real reason: " + err(r))
else:
    print("SKIPPED: read-only parent (root without setpriv ignores permissions)")

# ---- 8. numbers: decimal, strict, ranged ---------------------------------------------------
r = train(W("oct"), "--z", "010", "--v", "010", "--batch", "010")
cfg = json.loads(read(W("oct", "config.json"))) if os.path.exists(W("oct", "config.json")) else {}
check(r.returncode == 0 and cfg.get("z") == 10 and cfg.get("batch") == 10,
      "8: --z 010 --batch 010 are ten, not eight: %s %s" % (cfg.get("z"), err(r)))
for opt, val in (("--seed", "-1"), ("--seed", "0x10"), ("--z", "1e1"), ("--z", "4097"), ("--epochs", "+3")):
    r = train(W("bad"), opt, val)
    check(r.returncode == 2 and opt in r.stderr and not os.path.exists(W("bad")),
          "8: %s %s is refused (exit 2): %s" % (opt, val, err(r)))

# ---- 9. --resume of a finished run ----------------------------------------------------------
shutil.copytree(W("ref"), W("fin"))
before = read(W("fin", "final.json"))
r = train(W("fin"), "--resume", epochs=4)
check(r.returncode == 2 and "finished" in r.stderr and read(W("fin", "final.json")) == before,
      "9: --resume --epochs 4 of a finished run is refused, final.json kept: " + err(r))

# ---- 17. killed before the first config.json is committed ------------------------------------
r = train(W("k1"), env={"DSAE_FAULT_INJECT": "kill:1"})
check(r.returncode == -signal.SIGKILL and not os.path.exists(W("k1", "config.json")), "17: killed at the first write")
r = train(W("k1"), "--resume")
check(r.returncode == 0 and os.path.exists(W("k1", "final.json")), "17: --resume then starts at epoch 0: " + err(r))

# ---- 10. checkpoint metadata is range-checked ------------------------------------------------
if os.path.exists(W("ref", "checkpoint.safetensors")):
    header, n, data = meta_of(W("ref", "checkpoint.safetensors"))
    header["__metadata__"]["finished"] = "0"  # an interrupted run's checkpoint
    for key, val in (("next_epoch", "-3"), ("best_val", "nan"), ("step", "-1"), ("stage", "7"),
                     ("partial_batches", "1000000"), ("epochs_since_best", "010x")):
        shutil.rmtree(W("m"), ignore_errors=True)
        shutil.copytree(W("ref"), W("m"))
        os.remove(W("m", "final.json"))
        h = json.loads(json.dumps(header))
        h["__metadata__"][key] = val
        if key == "partial_batches":
            h["__metadata__"]["partial_train"] = " ".join(["0x0p+0"] * 8)
        rewrite_safetensors(W("m", "checkpoint.safetensors"), h, data, n)
        r = train(W("m"), "--resume", epochs=3)
        check(r.returncode == 2 and key in r.stderr and "checkpoint" in r.stderr,
              "10: %s %s is refused: %s" % (key, val, err(r)))
else:
    check(False, "10: no checkpoint to tamper with: " + err(r))

# ---- 11. non-finite weights are refused on load ----------------------------------------------
shutil.copytree(W("ref"), W("nan"))
os.remove(W("nan", "final.json"))
header, n, data = meta_of(W("nan", "checkpoint.safetensors"))
name = sorted(k for k in header if k != "__metadata__" and not k.startswith("optimizer"))[0]
off = 8 + n + header[name]["data_offsets"][0]
data = data[:off] + struct.pack("<f", float("nan")) + data[off + 4:]
write(W("nan", "checkpoint.safetensors"), data)
r = train(W("nan"), "--resume", epochs=3)
check(r.returncode == 2 and name in r.stderr and "non-finite" in r.stderr and "last good" not in r.stderr,
      "11: a NaN in the checkpoint is named (file and tensor): " + err(r))

# ---- 14. data scaled by 1e20 -----------------------------------------------------------------
np.save(W("huge.npy"), x * np.float32(1e20))
r = train(W("huge"), data=W("huge.npy"))
check(r.returncode == 2 and "huge.npy" in r.stderr and "data" in r.stderr and "learning rate" in r.stderr
      and "try a lower" not in r.stderr, "14: data scaled by 1e20 blames the data, names the file: " + err(r))

# ---- 7. special files ---------------------------------------------------------------------------
shutil.copytree(W("ref"), W("fifo"))
os.remove(W("fifo", "config.json"))
os.mkfifo(W("fifo", "config.json"))
os.remove(W("fifo", "final.json"))
t0 = time.time()
r = train(W("fifo"), "--resume", epochs=3, timeout=30)
check(r.returncode == 2 and "FIFO" in r.stderr and time.time() - t0 < 60, "7: a FIFO config.json: " + err(r))
shutil.copytree(W("ref"), W("zero"))
os.remove(W("zero", "config.json"))
os.remove(W("zero", "final.json"))
os.symlink("/dev/zero", W("zero", "config.json"))
r = train(W("zero"), "--resume", epochs=3)
check(r.returncode == 2 and "device" in r.stderr, "7: config.json -> /dev/zero: " + err(r))


# ---- dataset folders written here (F = 5: not log-mel audio) -------------------------------
def dataset(d, n_tr=16, n_va=8, t=T, f=F, count_override=None, features_override=None):
    os.makedirs(os.path.join(d, "train"), exist_ok=True)
    os.makedirs(os.path.join(d, "val"), exist_ok=True)
    g = np.random.default_rng(n_tr + t)
    items = []
    splits = {}
    for s, n in (("train", n_tr), ("val", n_va)):
        np.save(os.path.join(d, s, "features.npy"), (g.normal(size=(n, t, f)) * 0.3).astype(np.float32))
        splits[s] = {"count": n if count_override is None else count_override, "features": s + "/features.npy",
                     "shape": [n, t, f], "dtype": "float32"}
        if features_override:
            splits[s]["features"] = features_override
        items += [{"split": s, "index": i, "instrument": ["violin", "trumpet"][i % 2]} for i in range(n)]
    m = {"dataset": "toy", "instruments": ["violin", "trumpet"], "format": "dsae-dataset-v1",
         "features": {"type": "toy", "bins": f}, "splits": splits, "items": items}
    write(os.path.join(d, "manifest.json"), json.dumps(m).encode())


dataset(W("ds1"))
dataset(W("ds2"), n_tr=18)
r = train(W("erun"), data=W("ds1"))
check(r.returncode == 0, "a run on a dataset folder " + err(r))
dataset(W("neg"), count_override=-1)
r = train(W("negrun"), data=W("neg"))
check(r.returncode == 2 and "18446744073709551615" not in r.stderr and "count" in r.stderr,
      "14: a manifest count of -1 is named as such: " + err(r))
os.makedirs(W("zdev"))
dataset(W("zdev"), features_override="/dev/zero")
r = train(W("zdevrun"), data=W("zdev"))
check(r.returncode == 2 and "file not found" not in r.stderr, "7: a manifest pointing at /dev/zero: " + err(r))
dataset(W("fifods"))
os.remove(W("fifods", "val", "features.npy"))
os.mkfifo(W("fifods", "val", "features.npy"))
r = train(W("fiforun"), data=W("fifods"))
check(r.returncode == 2 and "not a regular file" in r.stderr, "7: a manifest pointing at a FIFO: " + err(r))

if args.eval_exe:
    EV = [args.eval_exe, "--pitch-tracker", "yin-dsae-v1", "--no-png"]
    # 5: data whose F is not 80 with the default --rpa-items / --wav-examples: refused up front
    r = run_cmd(EV + ["--run", W("erun"), "--data", W("ds1")], timeout=120)
    check(r.returncode == 2 and "log-mel" in r.stderr and "--rpa-items 0" in r.stderr,
          "5: eval of F=5 data with the audio steps: a clear error, exit 2 (%d): %s" % (r.returncode, err(r)))
    r = run_cmd(EV + ["--run", W("erun"), "--data", W("ds1"), "--rpa-items", "0", "--wav-examples", "0"], timeout=120)
    check(r.returncode == 0 and os.path.exists(W("erun", "eval.json")), "5: ... and without them it runs: " + err(r))
    ev_before = read(W("erun", "eval.json")) if os.path.exists(W("erun", "eval.json")) else b""
    # 12: another dataset of the same F
    r = run_cmd(EV + ["--run", W("erun"), "--data", W("ds2"), "--rpa-items", "0", "--wav-examples", "0"], timeout=120)
    check(r.returncode == 2 and "not the data" in r.stderr and read(W("erun", "eval.json")) == ev_before,
          "12: eval on other data is refused, eval.json kept: " + err(r))
    r = run_cmd(EV + ["--run", W("erun"), "--data", W("ds2"), "--rpa-items", "0", "--wav-examples", "0",
                      "--allow-other-data"], timeout=120)
    ej = json.loads(read(W("erun", "eval.json"))) if r.returncode == 0 else {}
    check(r.returncode == 0 and ej.get("data_matches_run") is False, "12: --allow-other-data is recorded: " + err(r))
    # 16: a bad --vggish path is reported before any work
    t0 = time.time()
    r = run_cmd(EV + ["--run", W("erun"), "--data", W("ds1"), "--rpa-items", "0", "--wav-examples", "0",
                      "--vggish", W("nope.safetensors")], timeout=120)
    check(r.returncode == 2 and "nope.safetensors" in r.stderr and "--vggish" in r.stderr,
          "16: a bad --vggish is named up front: " + err(r))
    # 6: hostile sizes in config.json
    for z in ("4611686018427387904", "1000000000000", "16.7", "-2", "\"16\""):
        shutil.rmtree(W("ez"), ignore_errors=True)
        shutil.copytree(W("erun"), W("ez"))
        c = read(W("ez", "config.json")).decode()
        c = re.sub(r'"z": \d+', '"z": ' + z, c)
        write(W("ez", "config.json"), c.encode())
        r = run_cmd(EV + ["--run", W("ez"), "--data", W("ds1"), "--rpa-items", "0", "--wav-examples", "0"],
                    timeout=120)
        check(r.returncode == 2 and '"z"' in r.stderr and "config.json" in r.stderr,
              "6: config.json \"z\": %s is refused by name: %s" % (z, err(r)))
    # 14: eval on T = 0 data
    dataset(W("t0"), t=0)
    r = run_cmd(EV + ["--run", W("erun"), "--data", W("t0"), "--rpa-items", "0", "--wav-examples", "0"], timeout=120)
    check(r.returncode == 2 and "frames" in r.stderr and "shape" not in r.stderr, "14: T = 0 data: " + err(r))

if args.data_exe:
    # 8: dsae-data numbers
    r = run_cmd([args.data_exe, "dmelodies", "--out", W("dm8"), "--seed", "-1"])
    check(r.returncode == 2 and "--seed" in r.stderr, "8: dsae-data --seed -1 is refused: " + err(r))
    have_sf = os.path.exists("/usr/share/sounds/sf3/MuseScore_General.sf3")
    if have_sf:
        DM = [args.data_exe, "dmelodies", "--reverb", "off", "--threads", "4096"]
        r = run_cmd(DM + ["--out", W("dm"), "--count", "10"])
        check(r.returncode == 0, "18: dsae-data --threads 4096 on 10 clips runs (capped): " + err(r))
        man = read(W("dm", "manifest.json")) if r.returncode == 0 else b""
        # 3: --overwrite keeps the old dataset until the new one is complete
        write(W("bad.sf3"), b"not a soundfont")
        r = run_cmd(DM + ["--out", W("dm"), "--overwrite", "--soundfont", W("bad.sf3"), "--count", "12"])
        check(r.returncode == 2 and read(W("dm", "manifest.json")) == man and
              os.path.exists(W("dm", "train", "features.npy")),
              "3: an unreadable soundfont with --overwrite leaves the old dataset: " + err(r))
        r = run_cmd(DM + ["--out", W("dm"), "--overwrite", "--count", "12"], env={"DSAE_FAULT_INJECT": "kill:3"})
        check(r.returncode == -signal.SIGKILL and read(W("dm", "manifest.json")) == man,
              "3: a kill during --overwrite leaves the old dataset: %d" % r.returncode)
        r = run_cmd(DM + ["--out", W("dm"), "--overwrite", "--count", "12"])
        litter = [n for n in os.listdir(args.work) if ".dsae-build-" in n]
        check(r.returncode == 0 and read(W("dm", "manifest.json")) != man and not litter,
              "3: --overwrite then replaces it, the killed build's folder is gone: %s %s" % (litter, err(r)))
        # 4: a second dsae-data on the same --out is refused while one holds it
        with open(W("dm", ".lock"), "a+") as lk:
            fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
            r = run_cmd(DM + ["--out", W("dm"), "--overwrite", "--count", "10"])
        check(r.returncode == 2 and "in use" in r.stderr, "4: two dsae-data on one --out: " + err(r))
        os.makedirs(W("dmf"))
        write(W("dmf", "notes.txt"), b"mine")
        r = run_cmd(DM + ["--out", W("dmf"), "--overwrite", "--count", "10"])
        check(r.returncode == 2 and read(W("dmf", "notes.txt")) == b"mine" and "notes.txt" in r.stderr,
              "3: --overwrite never replaces a folder that is not a dataset: " + err(r))
    else:
        print("SKIPPED: dsae-data checks (no soundfont)")

print("%d failed (%.0f s)" % (len(failures), time.time() - t_start))
sys.exit(1 if failures else 0)
