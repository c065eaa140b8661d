#!/usr/bin/python3
"""dsae-experiment --engine slurm on a real one-node Slurm cluster started on localhost
(tests/examples/slurm_cluster.py): the tiny grid as one job array plus an afterany aggregation
job, one run interrupted mid-run through Slurm (`scancel --batch --signal=USR1`, what
`--signal=B:USR1@N` delivers before a time limit): dsae-train checkpoints and exits 75, the
task requeues itself, the requeued task resumes; then results.csv must equal the local
engine's byte for byte. Also: a rerun while the array is queued or running submits nothing,
`dsae-experiment status` reports every run, a rerun after the end submits nothing.

The local-engine reference is computed here too (the tiny grid again, ~50 s of the ~100 s on the
loaded 2-core machine),
so the test does not depend on dsae_experiment_tiny.

Exit 0 on success, 77 (ctest: skipped) when the Slurm/munge daemons cannot start (or numpy,
matplotlib, the soundfont are missing), 1 on failure. Stops exactly the daemons it started.
"""
import argparse
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import slurm_cluster  # noqa: E402

from experiment_common import SOUNDFONT, start  # noqa: E402

args = start()
failures = []
T0 = time.time()


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def stamp(what):
    print(f"[{time.time() - T0:6.1f} s] {what}", flush=True)


def driver(out, *extra, env=None):
    cmd = ["/usr/bin/python3", args.driver, "dmelodies", "--profile", "tiny", "--out", out,
           "--build-dir", args.build_dir, *extra]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    print(p.stdout[-2500:])
    print(p.stderr[-2000:], file=sys.stderr)
    return p


def tensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: data[8 + n + v["data_offsets"][0]: 8 + n + v["data_offsets"][1]]
            for k, v in header.items() if k != "__metadata__"}


def find_train(run_dir):
    """PID of the dsae-train process training run_dir (started by the cluster for this test)."""
    want = ["--out", run_dir]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = [a.decode() for a in f.read().split(b"\0") if a]
        except OSError:
            continue
        if argv and os.path.basename(argv[0]) == "dsae-train" and any(
                argv[i:i + 2] == want for i in range(len(argv) - 1)):
            return int(d)
    return None


def sigmask(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1], 16)
    except OSError:
        return None
    return 0


def stepd_alive(job_id):
    """Whether a slurmstepd of job_id's batch step still runs."""
    tag = f"slurmstepd: [{job_id}.batch]".encode()
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if f.read().startswith(tag):
                    return True
        except OSError:
            pass
    return False


USR1_BIT = 1 << (signal.SIGUSR1 - 1)
TINY = os.path.join("runs", "n24-oct4")
RUNS = ["dsae_factorised_factorised_z4_s831", "ts-dsae_factorised_factorised_z4_s831"]

# 1. The cluster (first, so that a machine without it skips at once).
scratch = tempfile.mkdtemp(prefix="dsae-slurm-", dir="/tmp")  # short: unix socket paths
cluster = slurm_cluster.LocalCluster(scratch)
try:
    t = time.time()
    try:
        cluster.start()
    except slurm_cluster.ClusterUnavailable as e:
        print(f"SKIPPED: the one-node Slurm cluster cannot start: {e}")
        sys.exit(77)
    stamp(f"cluster up in {time.time() - t:.1f} s ({scratch})")
    env = cluster.env()

    # 2. The reference: the local engine (the daemons idle meanwhile).
    local = os.path.join(args.work, "local")
    stamp("local engine: tiny grid")
    t = time.time()
    p = driver(local, "--jobs", "2")
    check(p.returncode == 0, f"local engine exits 0 ({time.time() - t:.0f} s)")

    def sq(*a):
        return subprocess.run(list(a), capture_output=True, text=True, env=env)

    out = os.path.join(args.work, "slurm")
    SLURM_ARGS = ["--engine", "slurm", "--partition", "debug", "--time", "10", "--cpus-per-task", "1",
                  "--mem", "1G", "--array-limit", "2", "--signal-seconds", "60", "--sbatch-arg=--comment=dsae-test"]
    run_dirs = {r: os.path.join(out, TINY, r) for r in RUNS}
    target = run_dirs[RUNS[1]]  # the TS-DSAE run gets interrupted

    p = driver(out, *SLURM_ARGS, env=env)
    check(p.returncode == 0 and "job array" in p.stdout and "aggregation job" in p.stdout,
          "slurm engine submits a job array and an aggregation job")
    state = json.load(open(os.path.join(out, "slurm", "state.json")))
    jobs = {r: state["runs"].get(r, {}).get("job") for r in RUNS}
    check(all(jobs.values()) and len(state["arrays"]) == 1, f"state.json records one array: {jobs}")
    agg = state.get("aggregate")
    check(os.path.exists(os.path.join(out, "data", "n24-oct4", "manifest.json")), "data rendered before the array")

    # Catch the TS-DSAE dsae-train once its stop handler is installed and freeze it, so that
    # the signal, sent through Slurm to the task's batch shell and forwarded by it, lands
    # while the run is certainly unfinished.
    pid, deadline = None, time.time() + 240
    while time.time() < deadline:
        pid = find_train(target)
        if pid and (sigmask(pid, "SigCgt") or 0) & USR1_BIT:
            os.kill(pid, signal.SIGSTOP)
            break
        pid = None
        time.sleep(0.002)
    check(pid is not None, f"dsae-train of the TS-DSAE run found and paused (pid {pid})")

    # 3. A rerun while the array is queued or running submits nothing.
    p = driver(out, *SLURM_ARGS, env=env)
    state2 = json.load(open(os.path.join(out, "slurm", "state.json")))
    check(p.returncode == 0 and "0 submitted" in p.stdout and len(state2["arrays"]) == 1,
          "rerun while queued/running submits no task twice")
    agg = state2.get("aggregate")
    st = subprocess.run(["/usr/bin/python3", args.driver, "status", out], capture_output=True, text=True, env=env)
    print(st.stdout)
    check(st.returncode == 1 and "running" in st.stdout and jobs[RUNS[1]] in st.stdout,
          "status shows the paused run as running with its job id")

    if pid:
        r = sq("scancel", "--batch", "--signal=USR1", jobs[RUNS[1]])
        check(r.returncode == 0, f"scancel --batch --signal=USR1 {jobs[RUNS[1]]} {r.stderr.strip()}")
        deadline = time.time() + 60
        while time.time() < deadline and not (((sigmask(pid, "SigPnd") or 0) | (sigmask(pid, "ShdPnd") or 0))
                                              & USR1_BIT):
            time.sleep(0.01)
        check(((sigmask(pid, "SigPnd") or 0) | (sigmask(pid, "ShdPnd") or 0)) & USR1_BIT,
              "the task forwarded SIGUSR1 to dsae-train")
        os.kill(pid, signal.SIGCONT)
        stamp("SIGUSR1 delivered through Slurm, dsae-train continued")

    # Slurm holds a requeued batch job back for ~2 min (BeginTime); release it at once.
    released, deadline = False, time.time() + 300
    while time.time() < deadline:
        r = sq("squeue", "-h", "-r", "-t", "all", "-o", "%i %T %r")
        states = dict((ln.split()[0], ln.split()[1:]) for ln in r.stdout.splitlines() if ln.strip())
        tj = states.get(jobs[RUNS[1]], [])
        if not released and tj[:2] == ["PENDING", "BeginTime"]:
            # Only once the first instance's batch step has gone: its completion must not be
            # taken for the second instance's (the race Slurm's hold avoids).
            jid = sq("scontrol", "-o", "show", "job", jobs[RUNS[1]]).stdout.split()[0].split("=")[1]
            t = time.time()
            while time.time() - t < 60 and stepd_alive(jid):
                time.sleep(0.1)
            stamp(f"first instance's batch step ({jid}.batch) gone after {time.time() - t:.1f} s")
            time.sleep(1.0)
            sq("scontrol", "update", f"JobId={jobs[RUNS[1]]}", "StartTime=now")
            released = True
            stamp("requeued task pending on BeginTime: released")
        if agg and states.get(agg, [""])[0] in ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL"):
            break
        time.sleep(0.5)
    stamp(f"queue: {r.stdout.strip()}".replace("\n", " | "))
    check(released, "the interrupted task was requeued")
    check(states.get(agg, [""])[0] == "COMPLETED", f"aggregation job {agg} completed")

    # 4. Results.
    a = open(os.path.join(local, "results.csv"), "rb").read() if os.path.exists(
        os.path.join(local, "results.csv")) else b"(missing)"
    b = open(os.path.join(out, "results.csv"), "rb").read() if os.path.exists(
        os.path.join(out, "results.csv")) else b"(missing)"
    check(a == b and a.count(b"\n") == 3, "results.csv of the slurm engine equals the local engine's byte for byte")
    if a != b:
        print("local:\n" + a.decode() + "slurm:\n" + b.decode())
    for r in RUNS:
        ta = tensors(os.path.join(local, TINY, r, "checkpoint.safetensors"))
        tb = tensors(os.path.join(out, TINY, r, "checkpoint.safetensors"))
        check(ta == tb, f"{r}: final checkpoint bit-identical to the local engine's")
    tlog = open(os.path.join(target, "train.log")).read()
    check("stopped by a signal" in tlog and "--resume" in tlog and "resuming" in tlog,
          "train.log: dsae-train stopped on the signal, then ran again with --resume")
    task_log = state2["runs"][RUNS[1]]["log"]
    tl = open(task_log).read() if os.path.exists(task_log) else ""
    check("got SIGUSR1" in tl and "requeueing" in tl and "restart 1" in tl,
          f"task log {os.path.basename(task_log)}: signal, requeue, restart 1")
    for fig in ("fig3_f1.png", "fig7_grid.png"):
        check(os.path.exists(os.path.join(out, "figures", fig)), f"aggregation job drew figures/{fig}")
    st = subprocess.run(["/usr/bin/python3", args.driver, "status", out], capture_output=True, text=True, env=env)
    print(st.stdout)
    check(st.returncode == 0 and st.stdout.count(" done ") == 2, "status: both runs done")

    # 5. A rerun after the end submits nothing and aggregates here.
    p = driver(out, *SLURM_ARGS, env=env)
    state3 = json.load(open(os.path.join(out, "slurm", "state.json")))
    check(p.returncode == 0 and "2 done" in p.stdout and len(state3["arrays"]) == 1
          and state3.get("aggregate") == agg, "rerun of a finished grid submits nothing")
    check(open(os.path.join(out, "results.csv"), "rb").read() == a, "and rewrites the same results.csv")
finally:
    t = time.time()
    rcs = cluster.stop()
    stamp(f"cluster stopped in {time.time() - t:.1f} s: {rcs}")
    alive = [n for n, pr in cluster.procs.items() if pr.poll() is None]
    check(not alive and not cluster._stepds(), f"every daemon this test started has ended ({alive})")
    # Keep the daemons' logs next to the test's other outputs; print their tails on failure.
    if os.path.isdir(os.path.join(scratch, "log")):
        shutil.copytree(os.path.join(scratch, "log"), os.path.join(args.work, "cluster-logs"), dirs_exist_ok=True)
    if failures:
        for n in ("slurmctld.log", "slurmd.log"):
            print(f"--- {n} (tail)\n" + slurm_cluster._tail(os.path.join(scratch, "log", n), 25))
    shutil.rmtree(scratch, ignore_errors=True)

print(f"{len(failures)} failure(s), {time.time() - T0:.0f} s")
sys.exit(1 if failures else 0)
