#!/usr/bin/python3
"""Self-tests of the PyTorch reference. Run: /usr/bin/python3 test_reference.py
(or /usr/bin/python3 -m pytest bench/reference). Tiny models, a few seconds."""
import itertools
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
except ImportError as e:  # ctest treats exit code 77 as skipped
    if __name__ == "__main__":
        print(f"SKIPPED: torch/numpy not importable by {sys.executable}: {e}")
        sys.exit(77)
    raise

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import dsae_ref as R  # noqa: E402
import parity  # noqa: E402
import safetensors_np as st  # noqa: E402

torch.set_num_threads(1)
TINY = dict(x_dim=3, v_dim=2, z_dim=2, hidden=3, trans_hidden=2, lstm_hidden=2)
QD = list(itertools.product(("factorised", "full"), ("factorised", "richer")))
# DSAE has a single stage; the others in both stages, for every q/decoder.
CONFIGS = [("dsae", 1, q, d) for q, d in QD] + [
    (m, s, q, d) for m in R.METHODS[1:] for s in (1, 2) for q, d in QD]


def tiny(method, stage, q="factorised", decoder="factorised", seed=0, **kw):
    torch.manual_seed(seed)
    cfg = R.Config(method=method, stage=stage, q=q, decoder=decoder, **{**TINY, **kw})
    model = R.DSAE(cfg).double()
    if cfg.snapshot_prior:  # a snapshot different from the encoder, as after some updates
        with torch.no_grad():
            for p in model.snapshot.parameters():
                p.add_(0.1 * torch.randn_like(p))
    return model


def inputs(model, T=5, lengths=(5, 2, 4), seed=1):
    g = torch.Generator().manual_seed(seed)
    return R.make_inputs(model.cfg, T, len(lengths), list(lengths), generator=g)


def close(a, b, tol=1e-11):
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    err = (a - b).abs().max().item() if a.numel() else 0.0
    assert err <= tol * (1 + b.abs().max().item() if b.numel() else 1), f"max abs diff {err}"


# ---------------------------------------------------------------- sizes and stages

def test_parameter_counts_match_spec():
    for z, want in ((8, 47120), (16, 50224), (32, 56432)):
        m = R.DSAE(R.Config(method="dsae", z_dim=z))
        assert sum(p.numel() for p in m.parameters()) == want, z
    m = R.DSAE(R.Config(method="ts-dsae", stage=1, z_dim=32))
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == 23920
    # the snapshot is extra and never trains
    m = R.DSAE(R.Config(method="ts-dsae", stage=2, z_dim=32))
    assert sum(p.numel() for p in m.parameters() if p.requires_grad) == 56432
    assert sum(p.numel() for p in m.snapshot.parameters()) == 11424


def test_trainable_sets_follow_stages():
    def tops(method, stage):
        m = R.DSAE(R.Config(method=method, stage=stage, **TINY))
        return sorted({n.split(".")[0] for n in m.trainable_names()})
    full = ["decoder", "global_encoder", "local_encoder", "transition"]
    assert tops("dsae", 1) == full
    for m in R.METHODS[1:]:
        assert tops(m, 1) == ["decoder", "global_encoder"]
    assert tops("dsae-f", 2) == ["decoder", "local_encoder", "transition"]
    assert tops("ts-dsae-noreg", 2) == full
    assert tops("ts-dsae", 2) == full


def test_state_dict_names():
    m = R.DSAE(R.Config(method="ts-dsae", stage=2, q="full", decoder="richer", **TINY))
    names = set(m.state_dict())
    for n in ("global_encoder.net.0.weight", "global_encoder.net.2.bias", "global_encoder.mu.weight",
              "global_encoder.logvar.bias", "local_encoder.lstm.weight_ih_l0", "local_encoder.lstm.bias_hh_l1_reverse",
              "local_encoder.mu.weight", "transition.lstm.weight_hh_l1", "transition.logvar.bias",
              "decoder.lstm.weight_ih_l1_reverse", "decoder.net.0.weight", "decoder.net.2.weight",
              "decoder.out.bias", "snapshot.net.0.weight", "snapshot.logvar.bias"):
        assert n in names, n
    assert m.decoder.net[0].in_features == TINY["lstm_hidden"] + TINY["v_dim"]
    assert m.local_encoder.lstm.input_size == TINY["x_dim"] + TINY["v_dim"]


# ---------------------------------------------------------------- LSTM semantics

def test_manual_lstm_matches_nn_lstm():
    torch.manual_seed(3)
    for bi in (False, True):
        lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=bi).double()
        x = torch.randn(6, 3, 3, dtype=torch.float64)
        close(R.masked_lstm(lstm, x, torch.ones(6, 3, dtype=torch.float64)), lstm(x)[0], 1e-13)


def test_masked_lstm_equals_unpadded_runs():
    torch.manual_seed(4)
    lengths = (5, 2, 4, 1)
    for bi in (False, True):
        lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=bi).double()
        x = torch.randn(5, len(lengths), 3, dtype=torch.float64)  # padding holds garbage on purpose
        mask = torch.zeros(5, len(lengths), dtype=torch.float64)
        for b, n in enumerate(lengths):
            mask[:n, b] = 1
        out = R.masked_lstm(lstm, x, mask)
        for b, n in enumerate(lengths):
            close(out[:n, b], lstm(x[:n, b:b + 1])[0][:, 0], 1e-13)
            assert bool((out[n:, b] == 0).all())
        # the fast path is only taken when no frame is masked
        close(R.run_lstm(lstm, x, mask), out, 0)


# ---------------------------------------------------------------- objective

def test_fast_and_masked_paths_agree():
    for cfg in CONFIGS:
        model = tiny(*cfg)
        inp = inputs(model, T=4, lengths=(4, 4, 4))
        model.fast_lstm = True
        t1, g1 = R.loss_and_grads(model, inp)
        model.fast_lstm = False
        t2, g2 = R.loss_and_grads(model, inp)
        for k in R.TERMS:
            close(t1[k], t2[k])
        for n in g1:
            close(g1[n], g2[n])


def test_padding_is_ignored():
    """Changing x or the noise at padded frames changes nothing."""
    for cfg in CONFIGS:
        model = tiny(*cfg)
        inp = inputs(model)
        base = model(**inp)
        pad = (inp["mask"] == 0).unsqueeze(2).double()
        pad_l = (inp["mask"][:, inp["perm_l"]] == 0).unsqueeze(2).double()
        alt = dict(inp)
        alt["x"] = inp["x"] + 7.0 * pad
        alt["eps_z"] = inp["eps_z"] + 3.0 * pad
        alt["eps_z_g"] = inp["eps_z_g"] - 2.0 * pad
        alt["eps_z_l"] = inp["eps_z_l"] + 5.0 * pad_l
        other = model(**alt)
        for k in R.TERMS:
            close(other[k], base[k])


def _kl(mu1, lv1, mu2, lv2):
    return 0.5 * (lv2 - lv1 + (lv1.exp() + (mu1 - mu2) ** 2) / lv2.exp() - 1)


def loop_reference(model, inp):
    """Every term from per-sequence runs on unpadded sequences (B = 1, nn.LSTM path),
    with the spec's indices written out per i. Independent of the batched code."""
    cfg = model.cfg
    x, mask = inp["x"], inp["mask"]
    B = x.shape[1]
    n = [int(k) for k in mask.sum(0)]
    V, Z, F = cfg.v_dim, cfg.z_dim, cfg.x_dim

    def enc(xs, ev, ez):
        one = torch.ones(xs.shape[0], 1, dtype=xs.dtype)
        mu_v, lv_v = model.global_encoder(xs, one)
        v = mu_v + ev * (0.5 * lv_v).exp()
        mu_z, lv_z = model.local_encoder(xs, one, v)
        return mu_v, lv_v, v, mu_z, lv_z, mu_z + ez * (0.5 * lv_z).exp()

    def dec(z, v):
        return model.decoder(z, v, torch.ones(z.shape[0], 1, dtype=z.dtype))

    E = [enc(x[:n[b], b:b + 1], inp["eps_v"][b:b + 1], inp["eps_z"][:n[b], b:b + 1]) for b in range(B)]
    # per-sequence mean over its own valid frames, then the mean over sequences and bins
    recon = sum(((dec(E[b][5], E[b][2]) - x[:n[b], b:b + 1]) ** 2).sum() / n[b] for b in range(B)) / (B * F)
    kl_z = 0
    kl_v = 0
    for b in range(B):
        mu_v, lv_v, v, mu_z, lv_z, z = E[b]
        o = model.transition.lstm(z)[0]
        pmu = torch.cat([torch.zeros(1, 1, Z, dtype=x.dtype), model.transition.mu(o)[:-1]])
        plv = torch.cat([torch.zeros(1, 1, Z, dtype=x.dtype), model.transition.logvar(o)[:-1]])
        kl_z = kl_z + _kl(mu_z, lv_z, pmu, plv).sum() / n[b]
        if cfg.snapshot_prior:
            cmu, clv = model.snapshot(x[:n[b], b:b + 1], torch.ones(n[b], 1, dtype=x.dtype))
        else:
            cmu, clv = torch.zeros_like(mu_v), torch.zeros_like(lv_v)
        kl_v = kl_v + _kl(mu_v, lv_v, cmu, clv).sum()
    out = dict(recon=recon, kl_z=kl_z / (B * Z), kl_v=kl_v / (B * V))
    s = [0.0, 0.0, 0.0, 0.0]
    if cfg.swaps:
        pi, rho = inp["perm_g"].tolist(), inp["perm_l"].tolist()
        for i in range(B):
            p, r = pi[i], rho[i]
            xg = dec(E[i][5], E[p][2])  # z_i with v_pi(i): n_i frames
            G = enc(xg, inp["eps_v_g"][i:i + 1], inp["eps_z_g"][:n[i], i:i + 1])
            s[0] = s[0] + _kl(G[0], G[1], E[p][0], E[p][1]).sum()
            s[1] = s[1] + _kl(G[3], G[4], E[i][3], E[i][4]).sum() / n[i]
            xl = dec(E[r][5], E[i][2])  # z_rho(i) with v_i: n_rho(i) frames
            L = enc(xl, inp["eps_v_l"][i:i + 1], inp["eps_z_l"][:n[r], i:i + 1])
            s[2] = s[2] + _kl(L[0], L[1], E[i][0], E[i][1]).sum()
            s[3] = s[3] + _kl(L[3], L[4], E[r][3], E[r][4]).sum() / n[r]
        s = [s[0] / (B * V), s[1] / (B * Z), s[2] / (B * V), s[3] / (B * Z)]
    out.update(swap_1=s[0], swap_2=s[1], swap_3=s[2], swap_4=s[3])
    out["loss"] = sum(out[k] for k in ("recon", "kl_z", "kl_v", "swap_1", "swap_2", "swap_3", "swap_4"))
    return out


def test_batched_objective_equals_per_sequence_loop():
    for cfg in [("ts-dsae", 2, q, d) for q, d in QD] + [("ts-dsae-noreg", 2, "full", "factorised"),
                                                        ("dsae", 1, "factorised", "richer"),
                                                        ("dsae-f", 2, "full", "richer")]:
        model = tiny(*cfg, seed=5)
        # sizes where a permuted target has a different length than the source
        inp = inputs(model, T=6, lengths=(6, 2, 4, 3), seed=7)
        inp["perm_g"] = torch.tensor([2, 0, 3, 1])
        inp["perm_l"] = torch.tensor([1, 3, 0, 2])
        got = model(**inp)
        want = loop_reference(model, inp)
        for k in R.TERMS:
            close(got[k], want[k], 1e-12)
        if cfg[0] == "ts-dsae":
            assert all(float(got[f"swap_{j}"]) > 0 for j in (1, 2, 3, 4))


def test_swaps_use_intended_indices():
    """With the reference's bug (targets of terms 2 and 3 taken from the other swap's
    permutation) the loop above would differ; check that explicitly once."""
    model = tiny("ts-dsae", 2, seed=6)
    inp = inputs(model, T=6, lengths=(6, 2, 4, 3), seed=8)
    inp["perm_g"] = torch.tensor([1, 2, 3, 0])
    inp["perm_l"] = torch.tensor([3, 0, 1, 2])
    got = model(**inp)
    with torch.no_grad():
        mu_v, lv_v, v, mu_z, lv_z, z = model._encode(inp["x"], inp["mask"], inp["eps_v"], inp["eps_z"])
        rho = inp["perm_l"]
        mask_l = inp["mask"][:, rho]
        xl = model.decoder(z[:, rho], v, mask_l)
        mu_vl, lv_vl, *_ = model._encode(xl, mask_l, inp["eps_v_l"], inp["eps_z_l"])
        buggy3 = R.kl_gauss(mu_vl, lv_vl, mu_v[inp["perm_g"]], lv_v[inp["perm_g"]]).mean()
        right3 = R.kl_gauss(mu_vl, lv_vl, mu_v, lv_v).mean()
    close(got["swap_3"], right3, 1e-13)
    assert abs(float(buggy3 - right3)) > 1e-6


def test_identity_permutations_make_swaps_symmetric():
    model = tiny("ts-dsae", 2, "full", "richer", seed=2)
    inp = inputs(model)
    inp["perm_g"] = inp["perm_l"] = torch.arange(3)
    inp["eps_v_l"], inp["eps_z_l"] = inp["eps_v_g"], inp["eps_z_g"]
    t = model(**inp)
    close(t["swap_1"], t["swap_3"], 1e-14)
    close(t["swap_2"], t["swap_4"], 1e-14)


def test_snapshot_equal_to_encoder_gives_zero_kl_v():
    model = tiny("ts-dsae-noreg", 2, seed=3)
    model.take_snapshot()
    t = model(**inputs(model))
    assert float(t["kl_v"]) == 0.0
    t["loss"].backward()
    assert model.global_encoder.mu.weight.grad is not None
    assert all(p.grad is None for p in model.snapshot.parameters())


def test_stage1_frozen_modules_pass_gradients_to_their_inputs():
    """requires_grad=False semantics: factorised q -> KL_z has no gradient; full q ->
    the global encoder also gets gradient through v -> local encoder (and transition)."""
    for q in ("factorised", "full"):
        model = tiny("ts-dsae", 1, q, seed=4)
        inp = inputs(model)
        t = model(**inp)
        assert float(t["kl_z"]) > 0
        assert t["kl_z"].requires_grad == (q == "full")
        _, grads = R.loss_and_grads(model, inp)
        assert all(n.split(".")[0] in ("global_encoder", "decoder") for n in grads)
        if q == "full":
            gkl = torch.autograd.grad(model(**inp)["kl_z"], model.global_encoder.mu.weight)[0]
            assert float(gkl.abs().max()) > 0


def test_skipping_frozen_kl_z_keeps_the_gradient():
    model = tiny("dsae-f", 1, "factorised", "richer", seed=4)
    inp = inputs(model)
    t1, g1 = R.loss_and_grads(model, inp)
    model.report_frozen_kl_z = False
    t2, g2 = R.loss_and_grads(model, inp)
    assert bool(torch.isnan(t2["kl_z"]))
    close(t2["loss"], t1["loss"] - t1["kl_z"], 1e-14)
    for n in g1:
        close(g2[n], g1[n], 1e-14)
    model = tiny("dsae-f", 1, "full", "factorised", seed=4)
    model.report_frozen_kl_z = False
    try:
        model(**inputs(model))
    except ValueError:
        pass
    else:
        raise AssertionError("skipping KL_z with full q must be refused")


def test_gradcheck_tiny():
    """Autograd against central differences, double precision, masked batch."""
    cases = [("dsae", 1, "factorised", "factorised"), ("dsae", 1, "full", "richer"),
             ("ts-dsae", 1, "factorised", "richer"), ("ts-dsae", 1, "full", "factorised"), ("dsae-f", 2, "full", "factorised"),
             ("ts-dsae-noreg", 2, "factorised", "richer"), ("ts-dsae", 2, "factorised", "factorised"),
             ("ts-dsae", 2, "full", "richer")]
    for k, cfg in enumerate(cases):
        model = tiny(*cfg, seed=9)
        inp = inputs(model, T=4, lengths=(4, 2, 3), seed=10)
        names = model.trainable_names()
        params = [dict(model.named_parameters())[n].detach() for n in names]
        fn = R.functional_loss(model, names, inp)

        def flat_fn(flat):  # one input: fast_mode then needs only a few evaluations
            parts, at = [], 0
            for p in params:
                parts.append(flat[at:at + p.numel()].view_as(p))
                at += p.numel()
            return fn(*parts)
        flat = torch.cat([p.reshape(-1) for p in params]).clone().requires_grad_(True)
        # full Jacobian for the smallest case; random projections (fast_mode) for the rest
        assert torch.autograd.gradcheck(flat_fn, (flat,), eps=1e-6, atol=1e-7, rtol=1e-5,
                                        fast_mode=(k > 0)), cfg


# ---------------------------------------------------------------- parity CLI

def test_parity_cli_round_trip():
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in.safetensors"), os.path.join(d, "out.safetensors")
        for method, stage, q, dec in (("ts-dsae", 2, "full", "richer"), ("dsae-f", 2, "factorised", "factorised"),
                                      ("ts-dsae", 1, "factorised", "factorised")):
            parity.main(["--make-input", src, "--method", method, "--stage", str(stage), "--q", q,
                         "--decoder", dec, "--x-dim", "4", "--v", "3", "--z", "2", "--hidden", "5",
                         "--trans-hidden", "3", "--lstm-hidden", "3", "--T", "5", "--B", "3",
                         "--lengths", "5,3,2", "--seed", "11"])
            if (method, stage) == ("ts-dsae", 2):  # once through the real command line
                subprocess.run([sys.executable, os.path.join(HERE, "parity.py"), src, dst], check=True)
            else:
                parity.main([src, dst])
            out, md = st.load(dst)
            model, inp, _ = parity.build(src)
            names = model.trainable_names()
            assert md["trainable"] == ",".join(names)
            assert set(out) == set(R.TERMS) | {"grad." + n for n in names} | {"grad.x"}
            assert all(out[k].shape == () and out[k].dtype == np.float64 for k in R.TERMS)
            terms = model(**inp)
            for k in R.TERMS:
                close(out[k], terms[k].detach(), 1e-14)
            assert abs(out["loss"] - sum(out[k] for k in R.TERMS[1:])) < 1e-12
            if method == "dsae-f":
                assert not any(n.startswith("grad.global_encoder") for n in out)
            # central differences on a few entries of every trained parameter
            rng = np.random.default_rng(0)
            with torch.no_grad():
                for n, p in model.named_parameters():
                    if not p.requires_grad:
                        continue
                    flat = p.view(-1)
                    for j in rng.choice(flat.numel(), size=1, replace=False):
                        old = flat[j].item()
                        flat[j] = old + 1e-6
                        up = model(**inp)["loss"].item()
                        flat[j] = old - 1e-6
                        dn = model(**inp)["loss"].item()
                        flat[j] = old
                        fd = (up - dn) / 2e-6
                        an = out["grad." + n].reshape(-1)[j]
                        assert abs(fd - an) <= 1e-6 * (1 + abs(an)), (method, n, j, fd, an)


def test_parity_rejects_bad_input():
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "in.safetensors")
        parity.main(["--make-input", src, "--x-dim", "4", "--v", "3", "--z", "2", "--hidden", "5",
                     "--trans-hidden", "3", "--lstm-hidden", "3", "--T", "4", "--B", "2"])
        tensors, md = st.load(src)
        for mutate, needle in ((lambda t, m: t.pop("decoder.out.bias"), "missing parameters"),
                               (lambda t, m: t.pop("perm_l"), "missing input 'perm_l'"),
                               (lambda t, m: t.__setitem__("perm_g", np.array([0, 0])), "not a permutation"),
                               (lambda t, m: t.__setitem__("decoder.out.bias", np.zeros(5)), "has shape [5]"),
                               (lambda t, m: t.__setitem__("mask", t["mask"][::-1].copy()), "valid frames first"),
                               (lambda t, m: m.pop("q"), "lacks 'q'")):
            t, m = dict(tensors), dict(md)
            t["mask"] = np.array([[1, 1], [1, 1], [1, 0], [1, 0]], dtype=np.float64)
            mutate(t, m)
            bad = os.path.join(d, "bad.safetensors")
            st.save(bad, t, m)
            try:
                parity.build(bad)
            except SystemExit as e:
                assert needle in str(e), (needle, str(e))
            else:
                raise AssertionError(f"accepted bad input ({needle})")


def test_safetensors_np_round_trip_and_strictness():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "a.safetensors")
        t, md = st.sample_tensors()
        st.save(p, t, md)
        got, gmd = st.load(p)
        assert gmd == md and set(got) == set(t)
        for k in t:
            assert got[k].dtype == t[k].dtype and np.array_equal(got[k], t[k])
        raw = open(p, "rb").read()
        assert int.from_bytes(raw[:8], "little") % 8 == 0
        for bad, needle in ((raw[:-1], "truncated"), (raw + b"\0", "trailing"), (raw[:5], "shorter")):
            open(p, "wb").write(bad)
            try:
                st.load(p)
            except st.SafetensorsError as e:
                assert needle in str(e) and p in str(e)
            else:
                raise AssertionError(needle)


def main():
    tests = [(k, v) for k, v in sorted(globals().items()) if k.startswith("test_") and callable(v)]
    for name, fn in tests:
        fn()
        print(f"ok   {name}")
    print(f"{len(tests)} tests passed")


if __name__ == "__main__":
    main()
