"""Runs an experiment grid, locally or as a Slurm job array (docs/cluster.md).

A dataset driver (dsae-experiment dmelodies, later urmp) describes each run of its grid as a
plain dict and hands the list to an engine; the engine never needs to know the dataset:

    {"run_id": "ts-dsae_factorised_factorised_z16_s831",
     "run_dir": ".../runs/<tag>/<run_id>",
     "train": [dsae-train, --data, ..., --out, run_dir],   # without --resume / --overwrite
     "eval": [evaluator, ...]}                              # or None

`run_one` trains (skipped when final.json exists, --resume when a checkpoint exists) and then
evaluates (skipped when eval.json is newer than best.safetensors). `run_local` runs the grid in
a thread pool. `SlurmEngine.submit` writes the run list to DIR/slurm/, submits one job array
(one task per run, each task calling this file's `task` command) and one aggregation job
(afterany); tasks ask for a warning signal before their time limit, forward it to
dsae-train, which checkpoints at the next step boundary and exits 75; the task then requeues
itself and the requeued task resumes. `status` prints queued / running / done / failed per run
from the run folders, DIR/slurm/state.json and squeue / scontrol (no accounting needed).

Only the standard library is used, so the tasks run with any python3 on the compute nodes.
"""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

EXIT_STOPPED = 75  # dsae-train: stopped by SIGUSR1/SIGTERM, checkpoint written (examples/train/dsae_train.cpp)
ACTIVE = {"PENDING", "RUNNING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD", "CONFIGURING", "COMPLETING",
          "SUSPENDED", "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "STOPPED"}


class Failure(Exception):
    pass


class Stopped(Exception):
    """The run was asked to stop (a signal); its checkpoint is on disk."""


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_atomic(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def newer(a, b):
    return os.path.exists(a) and os.path.exists(b) and os.path.getmtime(a) > os.path.getmtime(b)


def is_done(run):
    d = run["run_dir"]
    final = os.path.exists(os.path.join(d, "final.json"))
    if not run.get("eval"):
        return final
    return final and newer(os.path.join(d, "eval.json"), os.path.join(d, "best.safetensors"))


# --- running one run -------------------------------------------------------------------------

class _Child:
    """The process currently running for this task, so a signal handler can forward to it."""
    proc = None
    stop_requested = False
    requeued = False


def run_logged(cmd, logfile, env=None):
    """Runs cmd with stdout+stderr appended to logfile; returns its exit status."""
    with open(logfile, "a") as f:
        f.write("$ " + " ".join(cmd) + "\n")
        f.flush()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env)
        _Child.proc = p
        try:
            return p.wait()
        finally:
            _Child.proc = None


def _raise_failure(cmd, rc, logfile):
    with open(logfile) as f:
        tail = "".join(f.readlines()[-15:])
    raise Failure(f"{os.path.basename(cmd[0])} failed (exit {rc}); log {logfile}:\n{tail}")


def run_one(run, threads):
    """Trains (or resumes) and evaluates one run; returns a status string; raises Failure or Stopped."""
    run_dir, rid = run["run_dir"], run["run_id"]
    os.makedirs(run_dir, exist_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    status = []
    final, ckpt = os.path.join(run_dir, "final.json"), os.path.join(run_dir, "checkpoint.safetensors")
    if os.path.exists(final):
        status.append("trained earlier")
    else:
        cmd = list(run["train"])
        if os.path.exists(ckpt):
            cmd.append("--resume")
            what = "resumed"
        else:
            if any(os.path.exists(os.path.join(run_dir, f)) for f in ("metrics.jsonl", "best.safetensors")):
                cmd.append("--overwrite")  # stopped before its first checkpoint
            what = "trained"
        log(f"train {rid}: start ({what}, {threads} thread(s))")
        t0 = time.time()
        logfile = os.path.join(run_dir, "train.log")
        rc = run_logged(cmd, logfile, env)
        if rc == EXIT_STOPPED:
            log(f"train {rid}: stopped by a signal after {time.time() - t0:.0f} s; checkpoint written")
            raise Stopped(rid)
        if rc != 0:
            _raise_failure(cmd, rc, logfile)
        log(f"train {rid}: done in {time.time() - t0:.0f} s")
        status.append(f"{what} in {time.time() - t0:.0f} s")
    if not run.get("eval"):
        return ", ".join(status)
    ev, best = os.path.join(run_dir, "eval.json"), os.path.join(run_dir, "best.safetensors")
    if newer(ev, best):
        status.append("evaluated earlier")
    else:
        if _Child.stop_requested:
            raise Stopped(rid)
        t0 = time.time()
        log(f"eval {rid}: start")
        logfile = os.path.join(run_dir, "eval.log")
        rc = run_logged(run["eval"], logfile, env)
        if _Child.stop_requested:
            raise Stopped(rid)  # the evaluator was signalled too; it reruns after the requeue
        if rc != 0:
            _raise_failure(run["eval"], rc, logfile)
        log(f"eval {rid}: done in {time.time() - t0:.0f} s")
        status.append(f"evaluated in {time.time() - t0:.0f} s")
    return ", ".join(status)


def run_local(runs, jobs, threads):
    """Runs the grid on this machine, `jobs` runs at a time; returns the list of failures."""
    failures = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futs = {pool.submit(run_one, r, threads): r for r in runs}
        for f, r in futs.items():
            try:
                log(f"{r['run_id']}: {f.result()}")
            except (Failure, Stopped) as e:
                failures.append(f"{r['run_id']}: {e}")
                log(f"{r['run_id']}: FAILED: {e}")
    return failures


# --- Slurm -------------------------------------------------------------------------------------

def _slurm(cmd, check=True):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError:
        raise Failure(f"{cmd[0]} not found: the slurm engine needs the Slurm client commands on PATH")
    if check and p.returncode != 0:
        raise Failure(f"{' '.join(shlex.quote(c) for c in cmd)} failed (exit {p.returncode}): {p.stderr.strip()}")
    return p


def job_states(job_ids):
    """{job id: state} for the given ids ("123" or "123_4"), from squeue and, for ids squeue no longer
    lists, scontrol (which keeps finished jobs for MinJobAge). Ids Slurm has forgotten are absent."""
    ids = sorted({str(j) for j in job_ids if j})
    if not ids:
        return {}
    states = {}
    bases = sorted({j.split("_")[0] for j in ids})
    p = _slurm(["squeue", "-h", "-r", "-t", "all", "-j", ",".join(bases), "-o", "%i %T"], check=False)
    if p.returncode == 0:
        for line in p.stdout.splitlines():
            parts = line.split()
            if len(parts) == 2:
                states[parts[0]] = parts[1]
    for j in ids:
        if j in states:
            continue
        p = _slurm(["scontrol", "-o", "show", "job", j], check=False)
        if p.returncode == 0:
            for tok in p.stdout.split():
                if tok.startswith("JobState="):
                    states[j] = tok.split("=", 1)[1]
                    break
    return states


class SlurmEngine:
    """One job array per submission (tasks = the runs not done and not already queued or running)
    plus an aggregation job that starts when the array has ended (afterany)."""

    def __init__(self, exp_dir, partition=None, time_limit="24:00:00", cpus_per_task=2, mem="4G",
                 array_limit=0, signal_seconds=300, sbatch_args=(), python=sys.executable):
        self.exp_dir = exp_dir
        self.dir = os.path.join(exp_dir, "slurm")
        self.partition, self.time_limit, self.cpus, self.mem = partition, time_limit, cpus_per_task, mem
        self.array_limit, self.signal_seconds = array_limit, signal_seconds
        self.sbatch_args, self.python = list(sbatch_args), python

    def _sbatch(self, args, script):
        cmd = ["sbatch", "--parsable", "--requeue", "--open-mode=append"]
        if self.partition:
            cmd.append(f"--partition={self.partition}")
        cmd += args + self.sbatch_args + [script]
        p = _slurm(cmd)
        return p.stdout.strip().split(";")[0]

    def submit(self, runs, aggregate_cmd, name="dsae"):
        """Submits what is left of the grid; returns a summary dict. Safe to call again."""
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        state = load_state(self.exp_dir)
        write_grid(self.exp_dir, runs)
        states = job_states([r.get("job") for r in state["runs"].values()] + [state.get("aggregate")])
        todo, active, done = [], [], []
        for r in runs:
            job = state["runs"].get(r["run_id"], {}).get("job")
            if is_done(r):
                done.append(r)
            elif job and states.get(job) in ACTIVE:
                active.append(r)
            else:
                todo.append(r)
        summary = {"done": [r["run_id"] for r in done], "active": [r["run_id"] for r in active],
                   "submitted": [r["run_id"] for r in todo], "array": None, "aggregate": None}
        if not todo and not active:
            return summary  # nothing left on the cluster: the caller aggregates now
        old = state.get("aggregate")
        if not todo and states.get(old) in ACTIVE:
            summary["aggregate"] = old  # still waiting for the active tasks
            return summary
        depend = sorted({state["runs"][r["run_id"]]["job"].split("_")[0] for r in active})
        if todo:
            stamp = time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"
            batch_file = os.path.join(self.dir, f"batch-{stamp}.json")
            write_atomic(batch_file, json.dumps({"runs": todo, "cpus_per_task": self.cpus}, indent=1))
            script = os.path.join(self.dir, f"task-{stamp}.sh")
            write_atomic(script, "#!/bin/sh\n# One run of the grid (see dsae_engine.py).\n"
                         f"exec {shlex.quote(self.python)} {shlex.quote(os.path.abspath(__file__))} task "
                         f"{shlex.quote(batch_file)} \"$SLURM_ARRAY_TASK_ID\"\n")
            arr = f"0-{len(todo) - 1}" + (f"%{self.array_limit}" if self.array_limit > 0 else "")
            job = self._sbatch([f"--job-name={name}", f"--array={arr}", f"--time={self.time_limit}",
                                f"--cpus-per-task={self.cpus}", f"--mem={self.mem}",
                                f"--signal=B:USR1@{self.signal_seconds}",
                                f"--output={os.path.join(self.dir, 'logs', '%A_%a.out')}"], script)
            summary["array"] = job
            state["arrays"].append(job)
            for i, r in enumerate(todo):
                state["runs"][r["run_id"]] = {"job": f"{job}_{i}", "log": self.task_log(job, i),
                                              "batch": batch_file}
            depend.append(job)
            save_state(self.exp_dir, state)  # before the aggregate: a failure there must not lose the array
        if old and states.get(old) == "PENDING":
            _slurm(["scancel", old], check=False)  # replaced by one that also waits for the new array
        script = os.path.join(self.dir, "aggregate.sh")
        write_atomic(script, "#!/bin/sh\n# Aggregates results.csv and the figures once the array has ended.\n"
                     + " ".join(shlex.quote(c) for c in aggregate_cmd) + "\n")
        agg = self._sbatch([f"--job-name={name}-aggregate", "--dependency=afterany:" + ":".join(depend),
                            "--time=01:00:00", "--cpus-per-task=1", f"--mem={self.mem}",
                            f"--output={os.path.join(self.dir, 'logs', 'aggregate-%j.out')}"], script)
        state["aggregate"] = agg
        summary["aggregate"] = agg
        save_state(self.exp_dir, state)
        return summary

    def task_log(self, array_job, index):
        return os.path.join(self.dir, "logs", f"{array_job}_{index}.out")


def state_path(exp_dir):
    return os.path.join(exp_dir, "slurm", "state.json")


def load_state(exp_dir):
    try:
        with open(state_path(exp_dir)) as f:
            s = json.load(f)
    except FileNotFoundError:
        s = {}
    except json.JSONDecodeError as e:
        raise Failure(f"{state_path(exp_dir)}: not valid JSON ({e})")
    s.setdefault("runs", {})
    s.setdefault("arrays", [])
    s.setdefault("aggregate", None)
    return s


def save_state(exp_dir, state):
    os.makedirs(os.path.dirname(state_path(exp_dir)), exist_ok=True)
    write_atomic(state_path(exp_dir), json.dumps(state, indent=1))


def write_grid(exp_dir, runs):
    """DIR/grid.json: the runs of the experiment (what `status` reports on)."""
    os.makedirs(exp_dir, exist_ok=True)
    write_atomic(os.path.join(exp_dir, "grid.json"), json.dumps({"runs": runs}, indent=1))


# --- inside a Slurm task -----------------------------------------------------------------------

def task_main(batch_file, index):
    """Runs run `index` of batch_file inside an array task; requeues itself when stopped."""
    with open(batch_file) as f:
        batch = json.load(f)
    run = batch["runs"][int(index)]
    threads = int(os.environ.get("SLURM_CPUS_PER_TASK", batch.get("cpus_per_task", 1)))
    job = f"{os.environ.get('SLURM_ARRAY_JOB_ID', '')}_{os.environ.get('SLURM_ARRAY_TASK_ID', '')}"

    def on_signal(sig, _frame):
        if _Child.requeued:  # slurmctld ends this instance of the requeued task
            os._exit(0)
        _Child.stop_requested = True
        log(f"task {job}: got {signal.Signals(sig).name}; asking {run['run_id']} to checkpoint and stop")
        p = _Child.proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGUSR1 if sig == signal.SIGUSR1 else signal.SIGTERM)

    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    log(f"task {job} on {os.uname().nodename}: {run['run_id']} (restart {os.environ.get('SLURM_RESTART_COUNT', 0)}, "
        f"{threads} thread(s))")
    try:
        log(f"{run['run_id']}: {run_one(run, threads)}")
        return 0
    except Stopped:
        log(f"task {job}: requeueing; the requeued task resumes from the checkpoint")
        p = _slurm(["scontrol", "requeue", job], check=False)
        if p.returncode != 0:
            log(f"task {job}: scontrol requeue failed ({p.stderr.strip()}); rerun the experiment command to resume")
            return EXIT_STOPPED
        # slurmctld now ends this instance (SIGTERM, handled above) and starts the task again once
        # it is eligible (Slurm holds a requeued batch job back for about two minutes). Waiting
        # for that end, rather than exiting first, leaves Slurm a single way out of this instance.
        _Child.requeued = True
        time.sleep(300)
        return 0
    except Failure as e:
        log(f"task {job}: FAILED: {e}")
        return 1


# --- status ------------------------------------------------------------------------------------

def status(exp_dir, out=sys.stdout):
    """Prints queued / running / done / failed per run; returns 0 when every run is done."""
    grid = os.path.join(exp_dir, "grid.json")
    if not os.path.exists(grid):
        raise Failure(f"{grid} missing: {exp_dir} is not an experiment folder (run dsae-experiment first)")
    with open(grid) as f:
        runs = json.load(f)["runs"]
    state = load_state(exp_dir)
    jobs = [v.get("job") for v in state["runs"].values()] + [state.get("aggregate")]
    try:
        states = job_states(jobs) if any(jobs) else {}
    except Failure as e:
        print(f"(no Slurm client: {e})", file=out)
        states = {}
    counts = {}
    width = max([len(r["run_id"]) for r in runs] + [6])
    for r in runs:
        entry = state["runs"].get(r["run_id"], {})
        job = entry.get("job")
        js = states.get(job) if job else None
        d = r["run_dir"]
        if is_done(r):
            st, where = "done", os.path.join(d, "eval.json" if r.get("eval") else "final.json")
        elif js in ("RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT"):
            st, where = "running", entry.get("log")
        elif js in ACTIVE:
            st, where = "queued", entry.get("log")
        else:
            logs = [p for p in (entry.get("log"), os.path.join(d, "eval.log"), os.path.join(d, "train.log"))
                    if p and os.path.exists(p)]
            if logs:  # ended without a result (a rerun of the experiment command resumes it)
                st, where = "failed", logs[0]
            else:
                st, where = "not started", "-"
        counts[st] = counts.get(st, 0) + 1
        jtxt = f"{job} {js or ''}".strip() if job else "local"
        print(f"{r['run_id']:<{width}}  {st:<11}  {jtxt:<22}  {where}", file=out)
    agg = state.get("aggregate")
    if agg:
        print(f"aggregate job {agg}: {states.get(agg, 'ended (forgotten by Slurm)')}", file=out)
    print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())), file=out)
    return 0 if counts.get("done", 0) == len(runs) else 1


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "task":
        sys.exit(task_main(sys.argv[2], sys.argv[3]))
    if len(sys.argv) == 3 and sys.argv[1] == "status":
        sys.exit(status(sys.argv[2]))
    print("usage: dsae_engine.py task BATCH.json INDEX | status DIR", file=sys.stderr)
    sys.exit(2)
