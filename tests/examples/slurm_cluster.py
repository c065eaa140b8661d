"""A one-node Slurm cluster on localhost for tests: munged, slurmctld and slurmd in the
foreground, every config, state, spool, socket, pid and log file in one scratch folder, the
clients pointed at it with SLURM_CONF (nothing in /etc is read or written). `stop()` cancels
the jobs, waits for the queue to empty and ends exactly the processes `start()` started (and
the slurmstepd processes their slurmd forked), by PID.

    c = LocalCluster(scratch)        # scratch: a short path (unix sockets allow ~107 bytes)
    c.start()                        # raises ClusterUnavailable when the daemons cannot start
    env = c.env()                    # os.environ + SLURM_CONF + PATH
    ...
    c.stop()
"""
import os
import shutil
import signal
import socket
import subprocess
import time

DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}
CLIENTS = ("sbatch", "squeue", "scontrol", "scancel", "sinfo")


class ClusterUnavailable(Exception):
    pass


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return "(no log)"


class LocalCluster:
    def __init__(self, scratch):
        self.dir = os.path.abspath(scratch)
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.procs = {}  # name -> Popen
        self.host = socket.gethostname().split(".")[0]

    def env(self):
        return dict(os.environ, SLURM_CONF=self.conf)

    def _path(self, *p):
        return os.path.join(self.dir, *p)

    def start(self, timeout=60):
        missing = [p for p in DAEMONS.values() if not os.access(p, os.X_OK)]
        missing += [c for c in CLIENTS if shutil.which(c) is None]
        if missing:
            raise ClusterUnavailable("not installed: " + ", ".join(missing) +
                                     " (apt-get install --no-install-recommends slurmctld slurmd slurm-client munge)")
        if os.geteuid() != 0:
            raise ClusterUnavailable("slurmd must run as root (SlurmUser=root) to launch jobs")
        for d in ("munge", "state", "spool", "log"):
            os.makedirs(self._path(d), exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.chmod(self._path("munge"), 0o755)  # munged refuses a socket folder of mode 700
        key = self._path("munge", "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        sock = self._path("munge", "munge.socket")
        self._spawn("munged", [DAEMONS["munged"], "-F", "--force", f"--socket={sock}", f"--key-file={key}",
                               f"--log-file={self._path('log', 'munged.log')}",
                               f"--pid-file={self._path('munge', 'munged.pid')}",
                               f"--seed-file={self._path('munge', 'munged.seed')}"], self._path("log", "munged.log"))
        self._wait(lambda: os.path.exists(sock), timeout, "munged socket", "munged", self._path("log", "munged.log"))
        node = subprocess.run([DAEMONS["slurmd"], "-C"], capture_output=True, text=True).stdout.splitlines()
        node = [ln for ln in node if ln.startswith("NodeName=")]
        if not node:
            raise ClusterUnavailable("slurmd -C printed no NodeName line")
        # slurmd -C names the node by the host name; keep its CPU/memory layout.
        layout = " ".join(t for t in node[0].split() if not t.startswith("NodeName="))
        ctld_port, d_port = _free_port(), _free_port()
        conf = f"""# written by tests/examples/slurm_cluster.py
ClusterName=dsaetest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
StateSaveLocation={self._path('state')}
SlurmdSpoolDir={self._path('spool')}
SlurmctldPidFile={self._path('slurmctld.pid')}
SlurmdPidFile={self._path('slurmd.pid')}
SlurmctldLogFile={self._path('log', 'slurmctld.log')}
SlurmdLogFile={self._path('log', 'slurmd.log')}
SlurmctldDebug=info
SlurmdDebug=info
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self._path('log', 'jobcomp.txt')}
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
MpiDefault=none
KillWait=5
MinJobAge=600
ReturnToService=2
SlurmdTimeout=60
NodeName={self.host} NodeAddr=127.0.0.1 {layout} State=UNKNOWN
PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.conf, "w") as f:
            f.write(conf)
        env = self.env()
        self._spawn("slurmctld", [DAEMONS["slurmctld"], "-D", "-i", "-f", self.conf],
                    self._path("log", "slurmctld.log"), env)
        self._spawn("slurmd", [DAEMONS["slurmd"], "-D", "-f", self.conf], self._path("log", "slurmd.log"), env)

        def idle():
            p = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=env)
            return p.returncode == 0 and p.stdout.strip() in ("idle", "mixed", "allocated")
        self._wait(idle, timeout, "node idle", "slurmd", self._path("log", "slurmd.log"))

    def _spawn(self, name, cmd, logfile, env=None):
        out = open(self._path("log", name + ".stdout"), "w")
        self.procs[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        out.close()

    def _wait(self, cond, timeout, what, name, logfile):
        t0 = time.time()
        while time.time() - t0 < timeout:
            for n, p in self.procs.items():
                if p.poll() is not None:
                    raise ClusterUnavailable(f"{n} exited with status {p.returncode} while waiting for {what}:\n"
                                             + _tail(self._path("log", n + ".stdout")) + _tail(logfile))
            if cond():
                return time.time() - t0
            time.sleep(0.1)
        raise ClusterUnavailable(f"no {what} after {timeout} s:\n" + _tail(logfile))

    def _stepds(self):
        """PIDs of slurmstepd processes forked by our slurmd (their environment names our SLURM_CONF)."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if not f.read().startswith(b"slurmstepd"):
                        continue
                with open(f"/proc/{d}/environ", "rb") as f:
                    if f"SLURM_CONF={self.conf}".encode() in f.read().split(b"\0"):
                        pids.append(int(d))
            except OSError:
                pass
        return pids

    def stop(self, timeout=60):
        """Cancels every job, waits for an empty queue, then ends the daemons it started."""
        env = self.env()
        if self.procs.get("slurmctld") and self.procs["slurmctld"].poll() is None:
            subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True)
            t0 = time.time()
            while time.time() - t0 < timeout:
                p = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=env)
                if p.returncode != 0 or not p.stdout.strip():
                    break
                time.sleep(0.3)
        stepds = self._stepds()
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for pid in stepds + self._stepds():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return {n: p.returncode for n, p in self.procs.items()}
