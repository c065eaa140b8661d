#!/usr/bin/python3
"""dsae-train --set: component settings from the command line (issue 20).

- --set kl_v.weight=2 --set kl_v.schedule=linear:2: config.json records the settings, the
  variant name in final.json records them, and every epoch's validation loss is
  recon + kl_z + w kl_v with w = 2 min(1, (epoch + 1) / 2) (the schedule at the epoch's end).
- dsae-encode rebuilds the model with the run's settings (the checkpoint's variant matches).
- Refusals before anything is written, naming the problem: an unknown component (the
  components listed), an unknown key (the component's settings listed), a malformed
  assignment, a value that is not a number, a bad schedule.

Exit 0 on success, 77 (ctest: skipped) when numpy is missing, 1 on failure.
"""
import json
import os
import sys

from cli_common import checks, run_cmd, start  # noqa: E402

args, W = start(("--encode-exe",))
import numpy as np  # noqa: E402
_checks = checks()
check, failures = _checks.check, _checks.failures

rng = np.random.default_rng(3)
x = rng.normal(size=(24, 6, 3)).astype(np.float32)
np.save(W("x.npy"), x)
base = [args.exe, "--data", W("x.npy"), "--method", "dsae", "--z", "2", "--v", "2", "--batch", "8",
        "--epochs", "3", "--seed", "4", "--quiet"]

RUN = W("run")
r = run_cmd(base + ["--set", "kl_v.weight=2", "--set", "kl_v.schedule=linear:2", "--out", RUN])
check(r.returncode == 0, "dsae-train with --set: " + r.stderr.strip()[-300:])
if r.returncode != 0:
    sys.exit(1)
cfg = json.load(open(os.path.join(RUN, "config.json")))
check(cfg.get("settings") == ["kl_v.weight=2", "kl_v.schedule=linear:2"], "config.json settings: %s" % cfg.get("settings"))
fin = json.load(open(os.path.join(RUN, "final.json")))
check("kl_v*2[schedule=linear:0:2]" in fin["variant"], "final.json variant: " + fin["variant"])
lines = [json.loads(l) for l in open(os.path.join(RUN, "metrics.jsonl"))]
check(len(lines) == 3, "three epochs logged")
for j in lines:
    e, va = j["epoch"], j["val"]
    w = 2 * min(1.0, (e + 1) / 2)
    want = va["recon"] + va["kl_z"] + w * va["kl_v"]
    check(abs(va["loss"] - want) <= 1e-5 * max(1.0, abs(want)),
          "epoch %d: val loss %.6g = recon + kl_z + %.2f kl_v (%.6g)" % (e, va["loss"], w, want))

# The same run without --set has another objective: its first validation loss differs.
r = run_cmd(base + ["--out", W("plain")])
plain = [json.loads(l) for l in open(W("plain", "metrics.jsonl"))] if r.returncode == 0 else []
check(r.returncode == 0 and plain[0]["val"]["loss"] != lines[0]["val"]["loss"],
      "without --set the objective differs (kl_v weight 1 from the start)")

if args.encode_exe:
    r = run_cmd([args.encode_exe, "--run", RUN, "--out", W("enc")])
    check(r.returncode == 0, "dsae-encode rebuilds the run's model with its settings: " + r.stderr.strip()[-300:])
    if r.returncode == 0:
        enc = json.load(open(W("enc", "encode.json")))
        check("kl_v*2[schedule=linear:0:2]" in enc["variant"], "encode.json variant: " + enc["variant"])

for setting, expect in [("kl_q.weight=2", "no component 'kl_q' in this model (components: prior_z, prior_v, schedule, recon, kl_z, kl_v)"),
                        ("kl_v.beta=2", "kl_v has no setting 'beta' (its settings: weight, schedule)"),
                        ("kl_v=2", "expected COMPONENT.KEY=VALUE"),
                        ("kl_v.weight=2x", "not a finite decimal number"),
                        ("kl_v.schedule=sigmoid:3", "expected constant, linear:[START:]LENGTH or cyclical:PERIOD[:RAMP]"),
                        ("prior_v.components=3", "prior_v has no setting 'components'")]:
    out = W("refused_" + setting.replace("=", "_").replace(":", "_"))
    r = run_cmd(base + ["--set", setting, "--out", out])
    check(r.returncode == 2 and expect in r.stderr and not os.path.exists(out),
          "--set %s refused (exit %d), nothing written: %s" % (setting, r.returncode, r.stderr.strip()[-200:]))

print("%d passed, %d failed" % (_checks.passed[0], len(failures)))
sys.exit(1 if failures else 0)
