#!/usr/bin/python3
"""dsae-encode and dsae-eval's generic mode on one's own labelled sequences (issue 18).

A TS-DSAE is trained briefly (dsae-train) on a set with a planted global factor (a constant
offset pattern per sequence, 3 classes) and a planted local factor (every frame up or down,
P(up) by class), variable lengths and NaN padding. Then:

- dsae-encode: shapes and dtypes; z exactly zero past each length; v_mean and z_mean equal a
  numpy evaluation of the encoders from best.safetensors; garbage padding gives identical
  files; --overwrite and the run folder's refusals (own output, foreign files, no marker);
  a dataset folder and --split; bad lengths named.
- dsae-eval --run RUN alone: the run's own data and split; eval.json has every field; the
  same numbers from explicit --data/--lengths/--labels; other data refused unless
  --allow-other-data (garbage padding: identical scores); one-class labels and a wrong label
  count refused naming the file.

Exit 0 on success, 77 (ctest: skipped) when numpy is missing, 1 on failure.
"""
import json
import os
import shutil
import sys
import time

from cli_common import checks, run_cmd, start  # noqa: E402

args, W = start(("--train-exe", "--eval-exe"))
import numpy as np  # noqa: E402 (start() skips visibly without it)
_checks = checks()
check, failures = _checks.check, _checks.failures
t_start = time.time()


def err(r):
    return r.stderr.strip()[-300:]


# ---- data: planted global and local factors, lengths, NaN padding ----
rng = np.random.default_rng(5)
N, T, F = 120, 14, 6
L = rng.integers(5, T + 1, N)
g = np.arange(N) % 3
loc = (np.arange(N) // 3) % 2
x = np.full((N, T, F), np.nan)
sign = np.where(np.arange(F) % 2, 1.0, -1.0)
for i in range(N):
    offset = np.where(np.arange(F) % 3 == g[i], 1.5, -0.5)
    up = rng.random(L[i]) < (0.8 if loc[i] else 0.2)
    x[i, :L[i]] = offset + np.where(up, 1.5, -1.5)[:, None] * sign + rng.normal(size=(L[i], F)) * 0.1
np.save(W("x.npy"), x)  # float64, NaN padding
np.save(W("len.npy"), L.astype(np.int16))
np.save(W("y.npy"), np.stack([g, loc], 1).astype(np.uint8))
garbage = x.copy()
for i in range(N):
    garbage[i, L[i]:] = rng.choice([1e30, -1e30, np.inf, np.nan], size=(T - L[i], F))
np.save(W("garbage.npy"), garbage)

RUN = W("run")
r = run_cmd([args.train_exe, "--data", W("x.npy"), "--lengths", W("len.npy"), "--labels", W("y.npy"),
             "--label-names", "global,local", "--method", "ts-dsae", "--z", "3", "--v", "2", "--batch", "32",
             "--epochs", "40", "--stage1-epochs", "15", "--lr", "0.003", "--seed", "5", "--quiet", "--out", RUN])
check(r.returncode == 0, "dsae-train on x.npy with lengths and labels: " + err(r))
if r.returncode != 0:
    sys.exit(1)


def load_safetensors(path):
    with open(path, "rb") as f:
        b = f.read()
    n = int.from_bytes(b[:8], "little")
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        a, e = v["data_offsets"]
        out[k] = np.frombuffer(b[8 + n + a:8 + n + e], dtype=np.float32).reshape(v["shape"])
    return out


def encoder(w, prefix, frames):
    """numpy FCN-[64,64] tanh + the Gaussian head's mean, frame by frame."""
    h = np.tanh(frames @ w[prefix + ".net.0.weight"].T.astype(np.float64) + w[prefix + ".net.0.bias"])
    return np.tanh(h @ w[prefix + ".net.2.weight"].T.astype(np.float64) + w[prefix + ".net.2.bias"])


def head(w, prefix, h):
    return h @ w[prefix + ".mu.weight"].T.astype(np.float64) + w[prefix + ".mu.bias"]


# ---- dsae-encode ----
ENC = [args.exe, "--run", RUN]
ref_v = np.zeros((N, 2))
r = run_cmd(ENC + ["--data", W("x.npy"), "--lengths", W("len.npy"), "--out", W("enc")])
check(r.returncode == 0, "dsae-encode --data x.npy --lengths: " + err(r))
if r.returncode == 0:
    vm, vl = np.load(W("enc", "v_mean.npy")), np.load(W("enc", "v_logvar.npy"))
    zm, zl = np.load(W("enc", "z_mean.npy")), np.load(W("enc", "z_logvar.npy"))
    le = np.load(W("enc", "lengths.npy"))
    ej = json.load(open(W("enc", "encode.json")))
    check(vm.shape == (N, 2) and vl.shape == (N, 2) and zm.shape == (N, T, 3) and zl.shape == (N, T, 3)
          and vm.dtype == np.float32 and zm.dtype == np.float32 and le.dtype == np.int64 and (le == L).all(),
          "shapes N x V, N x T x Z float32; lengths int64 = the given lengths")
    check(all((zm[i, L[i]:] == 0).all() and (zl[i, L[i]:] == 0).all() for i in range(N))
          and all((zl[i, :L[i]] != 0).any() for i in range(N)),
          "z mean and log-variance are exactly zero past each length (and not inside it)")
    w = load_safetensors(W("run", "best.safetensors"))
    ref_v = np.stack([head(w, "global_encoder", encoder(w, "global_encoder", x[i, :L[i]]).mean(0)) for i in range(N)])
    ref_z = [head(w, "local_encoder", encoder(w, "local_encoder", x[i, :L[i]])) for i in range(N)]
    dv = np.abs(vm - ref_v).max()
    dz = max(np.abs(zm[i, :L[i]] - ref_z[i]).max() for i in range(N))
    check(dv < 1e-4 and dz < 1e-4, "v_mean and z_mean equal numpy's evaluation of the encoders from "
          "best.safetensors over the valid frames (max |diff| v %.2g, z %.2g)" % (dv, dz))
    check(ej.get("format") == "dsae-encode-v1" and ej.get("complete") is True
          and ej.get("weights") == os.path.abspath(W("run", "best.safetensors"))
          and ej.get("variant", "").startswith("q_v=fcn_mean") and ej.get("config", {}).get("method") == "ts-dsae"
          and ej.get("data") == os.path.abspath(W("x.npy")) and ej.get("lengths") == os.path.abspath(W("len.npy"))
          and ej.get("n") == N and ej.get("frames") == T and ej.get("features") == F and ej.get("stage") == 2
          and "fnv1a64" in ej.get("fingerprint", {}) and "lengths_fnv1a64" in ej["fingerprint"],
          "encode.json: marker, run, weights, variant, config, data + fingerprint, N/T/F: " + json.dumps(ej)[:200])
    before = {n: open(W("enc", n), "rb").read() for n in os.listdir(W("enc")) if n.endswith(".npy")}
    # Without --data: the run's own data and lengths (config.json), the same bytes.
    r = run_cmd(ENC + ["--out", W("enc_own")])
    own = {n: open(W("enc_own", n), "rb").read() for n in os.listdir(W("enc_own")) if n.endswith(".npy")} \
        if r.returncode == 0 else {}
    check(r.returncode == 0 and own == before and "the run's" in r.stdout,
          "dsae-encode --run RUN --out DIR (no --data): the run's data and lengths, identical files " + err(r))
    # Garbage padding: the same bytes.
    r = run_cmd(ENC + ["--data", W("garbage.npy"), "--lengths", W("len.npy"), "--out", W("enc_g")])
    same = r.returncode == 0 and all(open(W("enc_g", n), "rb").read() == b for n, b in before.items())
    check(same, "1e30/Inf/NaN padding: every .npy bit-identical to NaN padding's " + err(r))
    # Own output: --overwrite needed, then the same bytes (deterministic).
    r = run_cmd(ENC + ["--data", W("x.npy"), "--lengths", W("len.npy"), "--out", W("enc")])
    check(r.returncode == 2 and "--overwrite" in r.stderr and "encode.json" in r.stderr,
          "a second dsae-encode into its own output needs --overwrite: " + err(r))
    r = run_cmd(ENC + ["--data", W("x.npy"), "--lengths", W("len.npy"), "--out", W("enc"), "--overwrite",
                       "--batch", "7"])
    check(r.returncode == 0 and np.abs(np.load(W("enc", "v_mean.npy")) - vm).max() < 1e-5,
          "--overwrite replaces it (batch 7: the same posterior up to rounding) " + err(r))

# Foreign files in --out: refused, even with --overwrite, and kept.
os.makedirs(W("foreign"))
open(W("foreign", "notes.txt"), "w").write("mine")
for extra in ([], ["--overwrite"]):
    r = run_cmd(ENC + ["--data", W("x.npy"), "--lengths", W("len.npy"), "--out", W("foreign")] + extra)
    check(r.returncode == 2 and "notes.txt" in r.stderr and open(W("foreign", "notes.txt")).read() == "mine"
          and not os.path.exists(W("foreign", "v_mean.npy")),
          "--out holding notes.txt%s: refused naming it, nothing written: %s" % (" (--overwrite)" if extra else "",
                                                                                  err(r)))
os.makedirs(W("nomarker"))
open(W("nomarker", "encode.json"), "w").write('{"format": "something-else"}')
open(W("nomarker", "v_mean.npy"), "w").write("not ours")
r = run_cmd(ENC + ["--data", W("x.npy"), "--lengths", W("len.npy"), "--out", W("nomarker"), "--overwrite"])
check(r.returncode == 2 and "encode.json" in r.stderr and "dsae-encode-v1" in r.stderr
      and open(W("nomarker", "v_mean.npy")).read() == "not ours",
      "an encode.json without the marker: refused with --overwrite, files kept: " + err(r))
if os.path.isdir(W("enc")):
    shutil.copy(W("x.npy"), W("enc", "extra.npy"))
    r = run_cmd(ENC + ["--data", W("x.npy"), "--lengths", W("len.npy"), "--out", W("enc"), "--overwrite"])
    check(r.returncode == 2 and "extra.npy" in r.stderr, "its own output plus a foreign file: refused: " + err(r))

# Bad lengths: named.
bad = L.copy()
bad[7] = T + 1
np.save(W("len_big.npy"), bad)
np.save(W("len_short.npy"), L[:-2])
for f, want in (("len_big.npy", "sequence 7 has length 15, expected 1..14"), ("len_short.npy", "118 lengths for 120")):
    r = run_cmd(ENC + ["--data", W("x.npy"), "--lengths", W(f), "--out", W("enc_bad")])
    check(r.returncode == 2 and f in r.stderr and want in r.stderr and not os.path.exists(W("enc_bad")),
          "dsae-encode refuses %s naming it, no --out made: %s" % (f, err(r)))
r = run_cmd(ENC + ["--data", W("x.npy"), "--out", W("enc_nolen")])
check(r.returncode == 2 and "x.npy" in r.stderr and "--lengths" in r.stderr,
      "NaN padding without --lengths: refused with the advice: " + err(r))

# A dataset folder (lengths.npy, labels.npy per split) and --split.
DS = W("ds")
for split, rows in (("train", slice(0, 90)), ("val", slice(90, 120))):
    os.makedirs(os.path.join(DS, split))
    np.save(os.path.join(DS, split, "features.npy"), np.nan_to_num(x[rows]).astype(np.float32))
    np.save(os.path.join(DS, split, "lengths.npy"), L[rows].astype(np.int64))
    np.save(os.path.join(DS, split, "labels.npy"), np.stack([g, loc], 1)[rows].astype(np.int64))
json.dump({"format": "dsae-dataset-v1", "label_names": ["global", "local"],
           "splits": {s: {"count": n, "features": s + "/features.npy"} for s, n in (("train", 90), ("val", 30))}},
          open(os.path.join(DS, "manifest.json"), "w"))
r = run_cmd(ENC + ["--data", DS, "--out", W("enc_ds")])
ok = r.returncode == 0 and np.load(W("enc_ds", "v_mean.npy")).shape == (30, 2)
check(ok and (np.load(W("enc_ds", "lengths.npy")) == L[90:]).all()
      and json.load(open(W("enc_ds", "encode.json"))).get("split") == "val"
      and np.abs(np.load(W("enc_ds", "v_mean.npy")) - ref_v[90:]).max() < 1e-4 if ok else False,
      "dataset folder: the val split by default, its lengths, the same v means " + err(r))
r = run_cmd(ENC + ["--data", DS, "--split", "train", "--out", W("enc_ds_tr")])
check(r.returncode == 0 and np.load(W("enc_ds_tr", "z_mean.npy")).shape == (90, T, 3), "--split train " + err(r))
r = run_cmd(ENC + ["--data", DS, "--split", "test", "--out", W("enc_ds_x")])
check(r.returncode == 2 and "manifest.json" in r.stderr and "test" in r.stderr, "--split test: no such split " + err(r))

# ---- dsae-eval, generic mode ----
if args.eval_exe:
    EV = [args.eval_exe, "--run", RUN]
    r = run_cmd(EV)
    ej = json.load(open(W("run", "eval.json"))) if r.returncode == 0 else {}
    check(r.returncode == 0 and ej.get("mode") == "generic" and ej.get("data_from_run") is True
          and ej.get("data_matches_run") is True and ej.get("labels_match_run") is True
          and "seed 5" in ej.get("validation", "") and ej.get("n_val") == 24,
          "dsae-eval --run RUN alone: the run's own data and seeded split (%s) %s" % (ej.get("validation"), err(r)))
    fields = ["variant", "stage", "eval_seed", "n_train", "n_val", "val_valid_frames", "labels", "recon_mse",
              "recon_mse_posterior_mean", "objective", "kl_z", "kl_v", "collapse", "data_fingerprint", "weights"]
    label_fields = ["name", "classes_train", "classes_val", "f1_v", "f1_z", "f1_pre", "f1_global", "f1_local"]
    labs = ej.get("labels", [])
    check(all(k in ej for k in fields) and [l.get("name") for l in labs] == ["global", "local"]
          and all(all(k in l for k in label_fields) for l in labs)
          and all(isinstance(l[k], float) and 0 <= l[k] <= 1 for l in labs for k in label_fields[3:])
          and all(k in ej["collapse"] for k in ("threshold_nats", "z_unused", "v_unused", "z_verdict", "v_verdict"))
          and len(ej["kl_z"]["per_dim"]) == 3 and len(ej["kl_v"]["standard_per_dim"]) == 2,
          "eval.json has every field, both labels by name, F1 in [0, 1]")
    check("global" in r.stdout and "F1(v)" in r.stdout and "local latent z" in r.stdout,
          "the table is printed:\n" + r.stdout)
    check(labs and labs[0]["f1_v"] > 0.9, "the planted global factor is read from v (F1 %.3f)" %
          (labs[0]["f1_v"] if labs else -1))
    keys = ["labels", "recon_mse", "recon_mse_posterior_mean", "objective", "kl_z", "kl_v", "collapse"]
    r = run_cmd(EV + ["--data", W("x.npy"), "--lengths", W("len.npy"), "--labels", W("y.npy"),
                      "--label-names", "global,local"])
    ej2 = json.load(open(W("run", "eval.json"))) if r.returncode == 0 else {}
    check(r.returncode == 0 and all(ej2.get(k) == ej.get(k) for k in keys) and ej2.get("data_from_run") is False,
          "explicit --data/--lengths/--labels: the same split and numbers " + err(r))
    before = open(W("run", "eval.json"), "rb").read()
    r = run_cmd(EV + ["--data", W("garbage.npy"), "--lengths", W("len.npy"), "--labels", W("y.npy"),
                      "--label-names", "global,local"])
    check(r.returncode == 2 and "not the data" in r.stderr and "--allow-other-data" in r.stderr
          and open(W("run", "eval.json"), "rb").read() == before,
          "other data (other padding bytes) refused, eval.json kept: " + err(r))
    r = run_cmd(EV + ["--data", W("garbage.npy"), "--lengths", W("len.npy"), "--labels", W("y.npy"),
                      "--label-names", "global,local", "--allow-other-data"])
    ej3 = json.load(open(W("run", "eval.json"))) if r.returncode == 0 else {}
    check(r.returncode == 0 and ej3.get("data_matches_run") is False and all(ej3.get(k) == ej.get(k) for k in keys),
          "--allow-other-data: recorded; garbage padding gives identical scores " + err(r))
    # Labels the evaluation cannot use, named with their file.
    y1 = np.stack([g, np.zeros(N, int)], 1).astype(np.int64)
    np.save(W("y_one.npy"), y1)
    np.save(W("y_short.npy"), np.stack([g, loc], 1)[:100])
    before = open(W("run", "eval.json"), "rb").read()
    for f, want in (("y_one.npy", "label 'local' has a single class"), ("y_short.npy", "labels for 100 sequences")):
        r = run_cmd(EV + ["--labels", W(f), "--label-names", "global,local"])
        check(r.returncode == 2 and f in r.stderr and want in r.stderr and open(W("run", "eval.json"), "rb").read() == before,
              "dsae-eval refuses %s naming it (%s), eval.json kept: %s" % (f, want, err(r)))
    r = run_cmd(EV + ["--lengths", W("len_big.npy")])
    check(r.returncode == 2 and "len_big.npy" in r.stderr, "dsae-eval: lengths out of range named " + err(r))
    # A dataset folder with labels.npy: the generic mode too (other data: allowed and recorded).
    r = run_cmd(EV + ["--data", DS, "--allow-other-data"])
    ej4 = json.load(open(W("run", "eval.json"))) if r.returncode == 0 else {}
    check(r.returncode == 0 and ej4.get("mode") == "generic" and ej4.get("n_val") == 30
          and [l["name"] for l in ej4.get("labels", [])] == ["global", "local"],
          "a dataset folder with labels.npy is evaluated generically " + err(r))
else:
    print("SKIPPED: dsae-eval checks (no --eval-exe)")

print("%d failed (%.0f s)" % (len(failures), time.time() - t_start))
sys.exit(1 if failures else 0)
