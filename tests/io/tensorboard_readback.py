"""TensorBoard reads what dsae's io/tensorboard.hpp wrote: runs tb_write_demo DIR, then reads
DIR with the tensorboard package (its own pure-Python record reader checks every CRC) and
compares every event, tag, step, wall time and float32 value with what the demo printed.

The tensorboard package is not in Debian: scripts/deps installs it into a venv under
${XDG_CACHE_HOME:-~/.cache}/dsae/venv-tensorboard, which this script re-executes itself
with when the running python lacks it. Exit 77 (skipped) when neither has it."""
import argparse
import math
import os
import shutil
import struct
import subprocess
import sys


def tensorboard_python():
    """Re-executes under the venv's python when this one cannot import tensorboard."""
    try:
        import tensorboard  # noqa: F401
        return
    except ImportError:
        pass
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    venv_python = os.path.join(cache, "dsae", "venv-tensorboard", "bin", "python")
    if os.access(venv_python, os.X_OK) and not os.environ.get("DSAE_TB_REEXEC"):
        os.environ["DSAE_TB_REEXEC"] = "1"
        os.execv(venv_python, [venv_python, os.path.abspath(__file__)] + sys.argv[1:])
    print("SKIPPED: tensorboard package not found (neither in %s nor in %s; scripts/deps installs it)"
          % (sys.executable, venv_python))
    sys.exit(77)


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", x))[0]


def same_f32(bits, x):
    """x (a float32 widened to a Python float) is exactly the float32 with these bits."""
    want = struct.unpack("<f", struct.pack("<I", bits))[0]
    if math.isnan(want):
        return math.isnan(x)
    return f32_bits(x) == bits


def main():
    tensorboard_python()
    ap = argparse.ArgumentParser()
    ap.add_argument("--exe", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    logdir = os.path.join(args.work, "tb")  # absent: the writer creates it

    import tensorboard
    from tensorboard.backend.event_processing import event_accumulator, event_file_loader
    from tensorboard.compat import tf as tb_tf
    from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow

    print("tensorboard", tensorboard.__version__, "(TensorFlow: %s)" % tb_tf.__version__, flush=True)
    failures = []

    def check(cond, what):
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        if not cond:
            failures.append(what)

    r = subprocess.run([args.exe, logdir], capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "tb_write_demo exits 0 (%s)" % r.stderr.strip())
    if r.returncode != 0:
        return 1
    lines = [ln.split("\t") for ln in r.stdout.splitlines()]
    path = lines[0][1]
    expected = {}  # event index -> (step, wall_time, [(tag, bits)])
    for ev, step, wall, tag, bits in lines[1:]:
        e = expected.setdefault(int(ev), (int(step), float(wall), []))
        e[2].append((tag, int(bits, 16)))
    n_events = 1 + len(expected)
    check(os.listdir(logdir) == [os.path.basename(path)], "one event file in the folder: %s" % os.listdir(logdir))
    check(".tfevents." in path and path.endswith(".dsae"), "file name %s" % os.path.basename(path))

    # 1. Every record through TensorBoard's own reader, CRCs checked; a DataLossError fails
    # here (the loaders below would stop quietly, taking it for a file still being written).
    reader = pywrap_tensorflow.PyRecordReader_New(path.encode())
    records = 0
    try:
        while True:
            reader.GetNext()
            records += 1
    except errors.OutOfRangeError:
        pass
    except errors.DataLossError as e:
        check(False, "record %d: %s" % (records, e))
    check(records == n_events, "%d records with valid CRCs (expected %d)" % (records, n_events))

    # 2. The Event protos, field by field.
    events = list(event_file_loader.LegacyEventFileLoader(path).Load())
    check(len(events) == n_events, "%d Event protos (expected %d)" % (len(events), n_events))
    if not events:
        return 1
    check(events[0].file_version == "brain.Event:2", "first event: file_version %r" % events[0].file_version)
    bad = []
    for i, ev in enumerate(events[1:], start=1):
        step, wall, values = expected.get(i, (None, None, []))
        got = [(v.tag, v.simple_value) for v in ev.summary.value]
        ok = (ev.step == step and ev.wall_time == wall and len(got) == len(values)
              and all(v.WhichOneof("value") == "simple_value" for v in ev.summary.value)
              and all(t == et and same_f32(eb, x) for (t, x), (et, eb) in zip(got, values)))
        if not ok:
            bad.append("event %d: got step %s wall %r %r, expected step %s wall %r %r"
                       % (i, ev.step, ev.wall_time, got, step, wall, values))
    check(not bad, "every event's step, wall time, tags and float32 values" + ("\n  " + "\n  ".join(bad[:5]) if bad else ""))
    multi = sum(1 for ev in events if len(ev.summary.value) > 1)
    check(multi >= 30, "%d events with several values" % multi)

    # 3. What TensorBoard's scalar dashboard gets (EventAccumulator over the folder).
    acc = event_accumulator.EventAccumulator(logdir, size_guidance={event_accumulator.SCALARS: 0})
    acc.Reload()
    per_tag = {}
    for i in sorted(expected):
        step, wall, values = expected[i]
        for tag, bits in values:
            per_tag.setdefault(tag, []).append((wall, step, bits))
    tags = set(acc.Tags()["scalars"])
    check(tags == set(per_tag), "scalar tags: %d, expected %d (missing %s, extra %s)"
          % (len(tags), len(per_tag), sorted(set(per_tag) - tags)[:3], sorted(tags - set(per_tag))[:3]))
    bad = []
    for tag, want in per_tag.items():
        got = acc.Scalars(tag) if tag in tags else []
        if len(got) != len(want) or not all(
                g.wall_time == w and g.step == s and same_f32(b, g.value) for g, (w, s, b) in zip(got, want)):
            bad.append("%s: got %d points, expected %d; first %r vs %r"
                       % (tag[:40], len(got), len(want), got[:1], want[:1]))
    check(not bad, "EventAccumulator: every tag's steps, wall times and values" + ("\n  " + "\n  ".join(bad[:5]) if bad else ""))
    nan = acc.Scalars("special/nan")
    check(len(nan) == 1 and math.isnan(nan[0].value), "NaN is shown as NaN")

    print("%d failure(s)" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
