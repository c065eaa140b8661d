#!/usr/bin/python3
"""Gradient parity peer for the C++ library.

    parity.py IN.safetensors OUT.safetensors

IN holds every parameter of the configuration under the dsae_ref names
(float64; snapshot.* for TS-DSAE(-noreg) stage 2), the inputs x (T,B,F),
mask (T,B), eps_v (B,V), eps_z (T,B,Z), and for TS-DSAE stage 2 also eps_v_g,
eps_z_g, eps_v_l, eps_z_l, perm_g, perm_l (int64, B), plus __metadata__ with
method, stage, q, decoder, z_dim, v_dim (optionally hidden, trans_hidden,
lstm_hidden for small test models). Everything is computed in float64.

OUT holds the scalars loss, recon, kl_z, kl_v, swap_1..swap_4 (shape []),
grad.<name> for every parameter that trains in that configuration and grad.x;
its metadata repeats IN's and lists the trained names ("trainable").

    parity.py --make-input IN.safetensors [--method ... --T 5 --B 4 --lengths 5,3,4,2 ...]

writes an IN file with PyTorch-default-initialised parameters and random inputs.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dsae_ref as R  # noqa: E402
import safetensors_np as st  # noqa: E402

INPUTS = ("x", "mask", "eps_v", "eps_z", "eps_v_g", "eps_z_g", "eps_v_l", "eps_z_l", "perm_g", "perm_l")
SWAP_INPUTS = INPUTS[4:]
SIZE_KEYS = ("hidden", "trans_hidden", "lstm_hidden")


def config_from_metadata(md, x_dim, path):
    try:
        kw = dict(method=md["method"], stage=int(md["stage"]), q=md["q"], decoder=md["decoder"],
                  z_dim=int(md["z_dim"]), v_dim=int(md["v_dim"]), x_dim=int(x_dim))
    except KeyError as e:
        raise SystemExit(f"parity.py: '{path}': metadata lacks {e}")
    for k in SIZE_KEYS:
        if k in md:
            kw[k] = int(md[k])
    try:
        return R.Config(**kw).validate()
    except ValueError as e:
        raise SystemExit(f"parity.py: '{path}': {e}")


def build(path):
    """Model with IN's parameters and the input dict, all float64."""
    tensors, md = st.load(path)
    if "x" not in tensors:
        raise SystemExit(f"parity.py: '{path}': no tensor 'x'")
    cfg = config_from_metadata(md, tensors["x"].shape[2], path)
    model = R.DSAE(cfg).double()
    sd = model.state_dict()
    missing = [n for n in sd if n not in tensors]
    if missing:
        raise SystemExit(f"parity.py: '{path}': missing parameters {missing}")
    unknown = [n for n in tensors if n not in sd and n not in INPUTS]
    if unknown:
        raise SystemExit(f"parity.py: '{path}': unknown tensors {unknown}")
    new_sd = {}
    for n, ref in sd.items():
        a = tensors[n]
        if tuple(a.shape) != tuple(ref.shape):
            raise SystemExit(f"parity.py: '{path}': parameter {n} has shape {list(a.shape)}, "
                             f"expected {list(ref.shape)}")
        new_sd[n] = torch.from_numpy(np.asarray(a, dtype=np.float64))
    model.load_state_dict(new_sd)

    need = INPUTS[:4] + (SWAP_INPUTS if cfg.swaps else ())
    for n in need:
        if n not in tensors:
            raise SystemExit(f"parity.py: '{path}': missing input '{n}' for {cfg.method} stage {cfg.stage}")
    T, B, F = tensors["x"].shape
    want = dict(x=(T, B, F), mask=(T, B), eps_v=(B, cfg.v_dim), eps_z=(T, B, cfg.z_dim),
                eps_v_g=(B, cfg.v_dim), eps_z_g=(T, B, cfg.z_dim), eps_v_l=(B, cfg.v_dim),
                eps_z_l=(T, B, cfg.z_dim), perm_g=(B,), perm_l=(B,))
    inputs = {}
    for n in INPUTS:
        if n not in tensors:
            continue
        a = tensors[n]
        if tuple(a.shape) != want[n]:
            raise SystemExit(f"parity.py: '{path}': input {n} has shape {list(a.shape)}, expected {list(want[n])}")
        if n.startswith("perm"):
            if sorted(a.tolist()) != list(range(B)):
                raise SystemExit(f"parity.py: '{path}': {n} is not a permutation of 0..{B - 1}")
            inputs[n] = torch.from_numpy(a.astype(np.int64))
        else:
            inputs[n] = torch.from_numpy(np.asarray(a, dtype=np.float64))
    m = inputs["mask"]
    if not bool(((m == 0) | (m == 1)).all()) or bool((m.sum(0) < 1).any()):
        raise SystemExit(f"parity.py: '{path}': mask must be 0/1 with at least one valid frame per sequence")
    if bool((m[1:] > m[:-1]).any()):
        raise SystemExit(f"parity.py: '{path}': mask must have the valid frames first in each sequence")
    return model, inputs, md


def compute(in_path, out_path):
    model, inputs, md = build(in_path)
    terms, grads = R.loss_and_grads(model, inputs, want_x_grad=True)
    out = {k: terms[k].numpy().astype(np.float64).reshape(()) for k in R.TERMS}
    for n, g in grads.items():
        out["grad." + n] = g.numpy()
    md = dict(md)
    md["trainable"] = ",".join(model.trainable_names())
    st.save(out_path, out, md)
    return terms


def make_input(args):
    torch.manual_seed(args.seed)
    cfg = R.Config(method=args.method, stage=args.stage, q=args.q, decoder=args.decoder,
                   x_dim=args.x_dim, v_dim=args.v, z_dim=args.z, hidden=args.hidden,
                   trans_hidden=args.trans_hidden, lstm_hidden=args.lstm_hidden).validate()
    model = R.DSAE(cfg).double()
    if cfg.snapshot_prior and not args.same_snapshot:
        # a snapshot that differs from the current encoder, as after some stage-2 updates
        with torch.no_grad():
            for p in model.snapshot.parameters():
                p.add_(0.05 * torch.randn_like(p))
    lengths = [int(s) for s in args.lengths.split(",")] if args.lengths else None
    if lengths is not None and len(lengths) != args.B:
        raise SystemExit("--lengths needs B entries")
    inputs = R.make_inputs(cfg, args.T, args.B, lengths)
    tensors = {n: p.detach().numpy() for n, p in model.state_dict().items()}
    for n in INPUTS[:4] + (SWAP_INPUTS if cfg.swaps else ()):
        tensors[n] = inputs[n].numpy()
    md = dict(method=cfg.method, stage=str(cfg.stage), q=cfg.q, decoder=cfg.decoder,
              z_dim=str(cfg.z_dim), v_dim=str(cfg.v_dim), hidden=str(cfg.hidden),
              trans_hidden=str(cfg.trans_hidden), lstm_hidden=str(cfg.lstm_hidden))
    st.save(args.make_input, tensors, md)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inp", nargs="?")
    ap.add_argument("out", nargs="?")
    ap.add_argument("--make-input", metavar="IN")
    ap.add_argument("--method", default="ts-dsae", choices=R.METHODS)
    ap.add_argument("--stage", type=int, default=2)
    ap.add_argument("--q", default="factorised")
    ap.add_argument("--decoder", default="factorised")
    ap.add_argument("--z", type=int, default=8)
    ap.add_argument("--v", type=int, default=16)
    ap.add_argument("--x-dim", type=int, default=80)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--trans-hidden", type=int, default=32)
    ap.add_argument("--lstm-hidden", type=int, default=64)
    ap.add_argument("--T", type=int, default=6)
    ap.add_argument("--B", type=int, default=4)
    ap.add_argument("--lengths", help="comma-separated valid lengths, one per sequence")
    ap.add_argument("--same-snapshot", action="store_true", help="snapshot = global encoder (the switch)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.make_input:
        make_input(args)
        return 0
    if not args.inp or not args.out:
        ap.error("need IN and OUT (or --make-input IN)")
    torch.set_num_threads(1)
    compute(args.inp, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
