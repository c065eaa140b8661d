#!/usr/bin/python3
"""Reliability of the command-line tools (issue 13): hostile inputs, divergence, the run
folder lock, foreign folders, and fault injection (SIGKILL and a full disk at many points
of the checkpoint and JSON writes, a real full tmpfs, a read-only run folder).

Exit 0 on success, 77 (ctest: skipped) when numpy is missing, 1 on failure. Checks that
need root (tmpfs) print SKIPPED and do not fail.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

from cli_common import checks, run_cmd, start  # noqa: E402

args, W = start(("--data-exe",))
import numpy as np  # noqa: E402 (start() skips visibly without it)
_checks = checks()
check, failures, passed = _checks.check, _checks.failures, _checks.passed
t_start = time.time()



def strict_json(text):
    """json.loads that rejects NaN/Infinity (Python accepts them; JSON does not)."""
    def bad(c):
        raise ValueError("non-JSON constant " + c)
    return json.loads(text, parse_constant=bad)


def read_tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = strict_json(data[8:8 + n])
    base = 8 + n
    end = max([v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"] + [0])
    if base + end != len(data):
        raise ValueError("%s: %d bytes, header says %d" % (path, len(data), base + end))
    return {k: data[base + v["data_offsets"][0]: base + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}, header.get("__metadata__", {})


def complete_files(run):
    """None when every file of the run folder is complete and valid, else the problem."""
    for name in os.listdir(run):
        p = os.path.join(run, name)
        if name.endswith(".tmp") or name == ".lock" or os.path.isdir(p):
            continue
        try:
            if os.path.getsize(p) == 0:
                return name + " is empty"
            if name.endswith(".json"):
                strict_json(open(p).read())
            elif name.endswith(".jsonl"):
                text = open(p).read()
                if not text.endswith("\n"):
                    return name + ": last line torn"
                for line in text.splitlines():
                    strict_json(line)
            elif name.endswith(".safetensors"):
                read_tensors(p)
        except Exception as e:  # noqa: BLE001
            return "%s: %s" % (name, e)
    return None


rng = np.random.default_rng(0)
N, T, F = 24, 8, 5
x = (rng.normal(size=(N, T, F)) * 0.3).astype(np.float32)
np.save(W("toy.npy"), x)
EPOCHS = 3
BASE = ["--data", W("toy.npy"), "--method", "ts-dsae", "--z", "2", "--v", "2", "--batch", "8",
        "--stage1-epochs", "1", "--patience", "50", "--seed", "3", "--quiet"]



def train(out, *extra, epochs=EPOCHS, env=None, data=None, timeout=300):
    cmd = [args.exe, *BASE, "--epochs", str(epochs), "--out", out, *extra]
    if data:
        cmd[cmd.index("--data") + 1] = data
    return run_cmd(cmd, env, timeout)


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


# ---- hostile .npy files (items 1, 2) ---------------------------------------------------
def npy(major, dict_text, pad_to, payload):
    h = dict_text.encode()
    h = h + b" " * (pad_to - len(h) - 1) + b"\n"
    n = len(h)
    length = struct.pack("<H", n) if major == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([major, 0]) + length + h + payload


over = npy(1, "{'descr':'<f4','fortran_order':False,'shape':(4294967296,4294967296,2)}", 78, b"\0" * 8)
write(W("overflow.npy"), over)
r = train(W("h1"), data=W("overflow.npy"))
check(len(over) == 96, "the overflow file is 96 bytes")
check(r.returncode == 2 and "overflow.npy" in r.stderr and "2^60" in r.stderr,
      "a 96-byte .npy whose shape product overflows: clear error, no crash (rc %d): %s" % (r.returncode,
                                                                                          r.stderr.strip()))
write(W("v2_12.npy"), b"\x93NUMPY\x02\x00\x86\xff\xff\xff")
t0 = time.time()
r = train(W("h2"), data=W("v2_12.npy"))
check(r.returncode == 2 and "runs past the end" in r.stderr and time.time() - t0 < 20,
      "a 12-byte v2 header is rejected at once (%.1f s): %s" % (time.time() - t0, r.stderr.strip()))
write(W("tera.npy"), npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000, 1000), }",
                         118, b"\0" * 16))
r = train(W("h3"), data=W("tera.npy"))
check(r.returncode == 2 and "truncated" in r.stderr and "4000000000000 bytes" in r.stderr,
      "10^12 elements promised by a tiny file: rejected before allocating: " + r.stderr.strip())
for d in ("h1", "h2", "h3"):
    check(not os.path.exists(W(d, "config.json")), "nothing written for bad data (%s)" % d)

# ---- CLI ranges and the stage schedule (items 9, 11) -----------------------------------
r = train(W("c1"), epochs=0)
check(r.returncode != 0 and not re.search(r"\d{30}", r.stderr) and len(r.stderr) < 400,
      "--epochs 0: a short message: " + r.stderr.strip())
r = train(W("c2"), "--lr", "-1")
check(r.returncode != 0 and not re.search(r"\d{30}", r.stderr) and "--lr" in r.stderr,
      "--lr -1: a short message: " + r.stderr.strip())
c5 = list(BASE)
c5[c5.index("--stage1-epochs") + 1] = "5"
r = run_cmd([args.exe, *c5, "--epochs", "2", "--out", W("c3")])
check(r.returncode != 0 and "--stage1-epochs" in r.stderr and not os.path.exists(W("c3")),
      "--stage1-epochs 5 --epochs 2 is rejected before anything is written: " + r.stderr.strip())

# ---- divergence guard (item 3) ----------------------------------------------------------
r = train(W("div"), "--lr", "1e6", epochs=6)
check(r.returncode == 3 and "diverged" in r.stderr, "--lr 1e6: non-zero exit (%d) and a clear message: %s"
      % (r.returncode, r.stderr.strip()[:300]))
problem = complete_files(W("div"))
check(problem is None, "after divergence every file is valid, metrics.jsonl strict JSON (%s)" % problem)
check(not os.path.exists(W("div", "final.json")), "a diverged run writes no final.json")
if os.path.exists(W("div", "checkpoint.safetensors")):
    t, _ = read_tensors(W("div", "checkpoint.safetensors"))
    finite = all(np.isfinite(np.frombuffer(b, dtype=np.float32)).all() for k, b in t.items() if k != "optimizer.step")
    check(finite, "the kept checkpoint is finite")

# ---- the reference run ------------------------------------------------------------------
r = train(W("ref"))
check(r.returncode == 0, "uninterrupted reference run " + r.stderr.strip())
ref_tensors, ref_meta = read_tensors(W("ref", "checkpoint.safetensors"))
ref_lines = open(W("ref", "metrics.jsonl")).read().splitlines()
strip = lambda ls: [re.sub(r'"seconds": [^,]*,', "", s) for s in ls]  # noqa: E731


def same_as_ref(run):
    t, m = read_tensors(os.path.join(run, "checkpoint.safetensors"))
    lines = open(os.path.join(run, "metrics.jsonl")).read().splitlines()
    return t == ref_tensors and m.get("step") == ref_meta.get("step") and strip(lines) == strip(ref_lines)


# ---- lock (item 5) ------------------------------------------------------------------------
LOCKBASE = [a if a != "50" else "1000000" for a in BASE]  # no early stop: runs until killed
lock_cmd = [args.exe, *LOCKBASE, "--epochs", "1000000", "--out", W("lock")]
p = subprocess.Popen(lock_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
deadline = time.time() + 120
while time.time() < deadline and not os.path.exists(W("lock", "checkpoint.safetensors")):
    time.sleep(0.02)
r = run_cmd(lock_cmd + ["--resume"], timeout=60)
check(r.returncode == 2 and ("in use by process %d on host" % p.pid) in r.stderr,
      "a second process on the same run folder is refused, naming the holder: " + r.stderr.strip())
r = run_cmd(lock_cmd + ["--overwrite"], timeout=60)
check(r.returncode == 2 and "in use by process" in r.stderr, "... also with --overwrite")
check(p.poll() is None, "the first process was still running meanwhile")
if p.poll() is None:
    p.send_signal(signal.SIGKILL)
p.wait()
check(os.path.exists(W("lock", ".lock")), "the killed process left its .lock file behind")
# The kernel lock died with the process: --resume locks the folder and trains (killed
# again at its 12th write step, to keep this short).
r = run_cmd(lock_cmd + ["--resume"], {"DSAE_FAULT_INJECT": "kill:12"}, timeout=60)
check(r.returncode == -signal.SIGKILL and "in use" not in r.stderr,
      "after kill -9, --resume gets the lock and runs (%d): %s" % (r.returncode, r.stderr.strip()))

# ---- foreign folders and --overwrite (item 6) -----------------------------------------------
os.makedirs(W("mine"))
write(W("mine", "config.json"), b'{"my": "own settings"}\n')
write(W("mine", "best.safetensors"), b"not a model of ours")
r = train(W("mine"))
check(r.returncode == 2 and "does not look like a dsae-train run" in r.stderr,
      "a folder that is not a run is refused: " + r.stderr.strip())
check(open(W("mine", "config.json"), "rb").read() == b'{"my": "own settings"}\n' and
      open(W("mine", "best.safetensors"), "rb").read() == b"not a model of ours", "the user's files are untouched")
os.makedirs(W("mine2"))
write(W("mine2", "metrics.jsonl"), b"my own log\n")
check(train(W("mine2")).returncode == 2 and open(W("mine2", "metrics.jsonl"), "rb").read() == b"my own log\n",
      "any foreign file with a run file's name is protected")
os.makedirs(W("mine3"))
write(W("mine3", "train.log"), b"a driver's log")
check(train(W("mine3")).returncode == 0 and open(W("mine3", "train.log"), "rb").read() == b"a driver's log",
      "other files (a driver's train.log) are allowed and left untouched")
shutil.copytree(W("ref"), W("ow"))
write(W("ow", "eval.json"), b'{"old": 1}')
os.makedirs(W("ow", "examples"))
write(W("ow", "examples", "item0_input.wav"), b"old")
r = train(W("ow"), "--overwrite", epochs=2)
check(r.returncode == 0 and not os.path.exists(W("ow", "eval.json")) and not os.path.exists(W("ow", "examples")),
      "--overwrite removes the old run's eval.json and examples/ too")

# ---- small ones of item 11 -------------------------------------------------------------------
r = train(W("e0"), env={"DSAE_FAULT_INJECT": "kill:6"})  # after config.json, at epoch 0's metrics line
check(r.returncode == -signal.SIGKILL and not os.path.exists(W("e0", "checkpoint.safetensors")),
      "killed in epoch 0 (no checkpoint yet)")
r = train(W("e0"))
check(r.returncode == 0, "a plain rerun of a run killed in epoch 0 starts again: " + r.stderr.strip())
r = train(W("e0b"), env={"DSAE_FAULT_INJECT": "kill:6"})
r = train(W("e0b"), "--resume")
check(r.returncode == 0 and same_as_ref(W("e0b")), "--resume of a run killed in epoch 0 starts at epoch 0")
shutil.copytree(W("ref"), W("cfg"))
write(W("cfg", "config.json"), b'{"method": "ts-dsae", "z": 2,')
r = train(W("cfg"), "--resume")
check(r.returncode == 2 and "config.json" in r.stderr and "corrupt" in r.stderr,
      "a corrupt config.json is named: " + r.stderr.strip())
shutil.copytree(W("ref"), W("dd"))
np.save(W("toy.npy"), x * 1.01)
r = train(W("dd"), "--resume", epochs=4)
np.save(W("toy.npy"), x)
check(r.returncode == 2 and "not the data" in r.stderr, "--resume with different data is refused: " +
      r.stderr.strip()[:200])
if args.data_exe:
    r = subprocess.run([args.data_exe, "dmelodies", "--out", W("dm"), "--count", "-5"], capture_output=True,
                       text=True)
    check(r.returncode != 0 and "18446744073709551611" not in r.stderr and "--count" in r.stderr,
          "dsae-data --count -5: " + r.stderr.strip())
    r = subprocess.run([args.data_exe, "dmelodies", "--out", W("dm"), "--count", "3", "--reverb", "off"],
                       capture_output=True, text=True)
    if "soundfont" in r.stderr.lower() and "validation" not in r.stderr:
        print("SKIPPED: dsae-data --count 3 (no soundfont): " + r.stderr.strip())
    else:
        check(r.returncode != 0 and "validation split" in r.stderr and not os.path.exists(W("dm", "manifest.json")),
              "dsae-data --count 3: the empty validation split is refused: " + r.stderr.strip())

# ---- fault injection: SIGKILL and ENOSPC at many points ------------------------------------
# Count the I/O steps of a whole run: the first N with which the run is not killed.
def steps_of_run():
    lo, hi = 1, 4096
    while lo < hi:  # smallest N that is past the end
        mid = (lo + hi) // 2
        shutil.rmtree(W("probe"), ignore_errors=True)
        r = train(W("probe"), env={"DSAE_FAULT_INJECT": "kill:%d" % mid})
        if r.returncode == -signal.SIGKILL:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1


total = steps_of_run()
check(total > 50, "a %d-epoch run makes %d write steps" % (EPOCHS, total))
points = sorted(set(list(range(1, 16)) + list(range(16, total + 1, max(1, total // 30))) + [total]))
bad = []
for n in points:
    run = W("k%d" % n)
    r = train(run, env={"DSAE_FAULT_INJECT": "kill:%d" % n})
    if r.returncode != -signal.SIGKILL:
        bad.append("%d: not killed (%d)" % (n, r.returncode))
        continue
    problem = complete_files(run) if os.path.isdir(run) else None
    if problem:
        bad.append("%d: %s" % (n, problem))
    r = train(run, "--resume") if os.path.exists(os.path.join(run, "config.json")) or \
        os.path.exists(os.path.join(run, "checkpoint.safetensors")) else train(run)
    if r.returncode != 0 and "finished run" not in r.stderr:
        bad.append("%d: rerun failed: %s" % (n, r.stderr.strip()))
    elif not same_as_ref(run):
        bad.append("%d: resumed run differs from the reference" % n)
    shutil.rmtree(run)
check(not bad, "SIGKILL at %d points of %d: files complete, resume bit-identical (%s)" % (len(points), total, bad[:3]))
bad = []
clear = [0]
for n in points[::2]:
    run = W("f%d" % n)
    r = train(run, env={"DSAE_FAULT_INJECT": "enospc:%d" % n})
    if r.returncode == 2 and "disk is full" in r.stderr:
        clear[0] += 1
    elif r.returncode != 0:  # 0: the failed step was a best-effort folder fsync
        bad.append("%d: rc %d %s" % (n, r.returncode, r.stderr.strip()[:120]))
    problem = complete_files(run) if os.path.isdir(run) else None
    if problem:
        bad.append("%d: %s" % (n, problem))
    if os.path.isdir(run) and any(f.endswith(".tmp") for f in os.listdir(run)):
        bad.append("%d: temporary left behind" % n)
    r = train(run, "--resume") if os.path.exists(os.path.join(run, "config.json")) else train(run)
    # A run that finished (the failed step was a best-effort fsync) is not resumed (issue 19 item 9).
    if (r.returncode != 0 and "finished run" not in r.stderr) or not same_as_ref(run):
        bad.append("%d: resume after the full disk: %s" % (n, r.stderr.strip()[:120]))
    shutil.rmtree(run)
check(not bad and clear[0] >= len(points[::2]) * 3 // 4,
      "a full disk (injected ENOSPC) at %d points (%d clear 'disk is full' errors): files complete, resume works (%s)"
      % (len(points[::2]), clear[0], bad[:3]))


# ---- a real full disk (tmpfs) and a read-only run folder -----------------------------------
def mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    if os.geteuid() != 0:
        return False
    return subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                          capture_output=True).returncode == 0


mnt = tempfile.mkdtemp(prefix="dsae_full_")
if mount_tmpfs(mnt, "2m"):
    try:
        run = os.path.join(mnt, "run")
        r = train(run)
        check(r.returncode == 0, "run on a 2 MiB tmpfs")
        def contents():  # the lock file holds the last holder's pid: not a run file
            return {f: open(os.path.join(run, f), "rb").read() for f in os.listdir(run)
                    if f != ".lock" and not os.path.isdir(os.path.join(run, f))}
        before = contents()
        with open(os.path.join(mnt, "filler"), "wb") as f:  # fill the disk
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
        r = train(run, "--resume")  # refused before anything is written (issue 19 item 9)
        check(r.returncode == 2 and "finished run" in r.stderr,
              "--resume on a finished run with the disk full: refused: " + r.stderr.strip()[:200])
        after = contents()
        check(before == after and b"best_epoch" in before.get("final.json", b""), "with the disk full nothing changed (final.json kept, not emptied)")
        r = train(run, "--overwrite")
        check(r.returncode == 2 and complete_files(run) is None, "training on a full disk fails clearly: " +
              r.stderr.strip()[:200])
        os.remove(os.path.join(mnt, "filler"))
        r = train(run, "--resume") if os.path.exists(os.path.join(run, "config.json")) else train(run)
        check(r.returncode == 0 and same_as_ref(run), "space freed: the run completes, same result")
        subprocess.run(["mount", "-o", "remount,ro", mnt], check=True)
        r = train(run, "--overwrite")  # a finished run: --resume is refused before the folder is touched
        check(r.returncode == 2 and "Read-only" in r.stderr, "a read-only run folder: clear error: " +
              r.stderr.strip()[:200])
        check(complete_files(run) is None and same_as_ref(run), "the read-only run is intact")
    finally:
        subprocess.run(["umount", mnt])
        os.rmdir(mnt)
else:
    print("SKIPPED: full-disk and read-only checks on a tmpfs (mounting needs root)")
    if os.geteuid() != 0:  # without root a read-only folder is a chmod away
        run = W("ro")
        train(run)
        os.chmod(run, 0o555)
        r = train(run, "--overwrite")
        os.chmod(run, 0o755)
        check(r.returncode == 2 and "denied" in r.stderr, "a read-only run folder: clear error: " +
              r.stderr.strip()[:200])

print("%d passed, %d failed (%.0f s)" % (passed[0], len(failures), time.time() - t_start))
sys.exit(1 if failures else 0)
