"""Shared start of the command-line tool tests (test_train_cli, test_train_stop,
test_reliability, test_hostile): the visible numpy skip (exit 77, which ctest reports as
skipped), the common command line (--exe, --work and the optional tool paths), an empty
work folder, and the ok/FAIL check that collects failures."""
import argparse
import os
import shutil
import sys


def start(optional=()):
    """Skips visibly without numpy; returns (args, W) with an empty --work and W(*parts) a path in it."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        print("SKIPPED: numpy not importable")
        sys.exit(77)
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", required=True)
    for opt in optional:
        ap.add_argument(opt)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    return args, (lambda *p: os.path.join(args.work, *p))


class checks:
    """check(cond, what) prints ok/FAIL; failures lists what failed, passed[0] counts passes."""

    def __init__(self):
        self.failures = []
        self.passed = [0]

    def check(self, cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        self.passed[0] += bool(cond)
        if not cond:
            self.failures.append(what)


def run_cmd(cmd, env=None, timeout=300):
    """Runs cmd with env added to the environment; a timeout is a result (returncode -999), not an exception."""
    import subprocess

    e = dict(os.environ)
    e.update(env or {})
    try:
        return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=timeout)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(cmd, -999, "", "timed out after %d s" % timeout)
