"""Plain PyTorch reference of the DSAE family, written from ../shared/spec/model.md.

Used for gradient parity with the C++ library (parity.py) and as the speed
yardstick (bench_torch.py). Everything stochastic is an input: the Gaussian
noise of every reparameterisation and the two swap permutations, so the C++
side can be fed exactly the same numbers.

Layout is time-major: x (T, B, F), mask (T, B) of 0/1 with the valid frames of
each sequence first. Masked LSTM semantics (shared with the C++ side): at a
masked frame the cell's new c and h are multiplied by the mask, in both
directions, so the output there is zero and the reverse direction starts from
a zero state at each sequence's last valid frame.

Parameter names (the contract with the C++ checkpoints) are the state_dict keys
of `DSAE`: global_encoder.{net.0,net.2,mu,logvar}, local_encoder.{net.0,net.2 |
lstm}.*, local_encoder.{mu,logvar}, transition.lstm.*, transition.{mu,logvar},
decoder.{lstm.*,}net.0, decoder.net.2, decoder.out, and snapshot.* (a frozen
copy of the global encoder, only for TS-DSAE(-noreg) stage 2).
"""
import copy
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn.utils import stateless

METHODS = ("dsae", "dsae-f", "ts-dsae-noreg", "ts-dsae")
TERMS = ("loss", "recon", "kl_z", "kl_v", "swap_1", "swap_2", "swap_3", "swap_4")


@dataclass
class Config:
    method: str = "ts-dsae"
    stage: int = 2
    q: str = "factorised"          # factorised | full
    decoder: str = "factorised"    # factorised | richer
    x_dim: int = 80
    v_dim: int = 16
    z_dim: int = 16
    hidden: int = 64               # FCN width
    trans_hidden: int = 32         # transition LSTM
    lstm_hidden: int = 64          # full-q encoder and richer decoder LSTMs

    def validate(self):
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {self.stage!r}")
        if self.q not in ("factorised", "full"):
            raise ValueError(f"q must be factorised or full, got {self.q!r}")
        if self.decoder not in ("factorised", "richer"):
            raise ValueError(f"decoder must be factorised or richer, got {self.decoder!r}")
        for k in ("x_dim", "v_dim", "z_dim", "hidden", "trans_hidden", "lstm_hidden"):
            if int(getattr(self, k)) <= 0:
                raise ValueError(f"{k} must be positive")
        return self

    # Stage logic (spec "Two-stage training").
    @property
    def two_stage(self):
        return self.method != "dsae"

    @property
    def local_frozen(self):        # stage 1: local encoder + transition parameters fixed
        return self.two_stage and self.stage == 1

    @property
    def global_frozen(self):       # DSAE-f stage 2
        return self.method == "dsae-f" and self.stage == 2

    @property
    def snapshot_prior(self):      # KL_v against q_C(v|x)
        return self.method in ("ts-dsae-noreg", "ts-dsae") and self.stage == 2

    @property
    def swaps(self):
        return self.method == "ts-dsae" and self.stage == 2


# ---------------------------------------------------------------- LSTM

def _lstm_direction(x, mask, w_ih, w_hh, b_ih, b_hh, reverse):
    """One direction of one layer with the masked semantics. x (T,B,D) -> (T,B,H)."""
    T = x.shape[0]
    H = w_hh.shape[1]
    xp = torch.addmm(b_ih + b_hh, x.reshape(-1, x.shape[-1]), w_ih.t()).view(T, -1, 4 * H)
    h = x.new_zeros(x.shape[1], H)
    c = x.new_zeros(x.shape[1], H)
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        g = xp[t] + h @ w_hh.t()
        i, f, gg, o = g.chunk(4, dim=1)          # gate order i, f, g, o
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        h = torch.sigmoid(o) * torch.tanh(c)
        m = mask[t].unsqueeze(1)
        c = c * m
        h = h * m
        outs[t] = h
    return torch.stack(outs)


def masked_lstm(lstm, x, mask):
    """Runs nn.LSTM `lstm`'s parameters over x (T,B,D) with mask (T,B).

    Returns the last layer's output (T,B,H) or (T,B,2H) for bidirectional
    (forward first, as nn.LSTM). Written out step by step so masking holds.
    """
    dirs = ("", "_reverse") if lstm.bidirectional else ("",)
    inp = x
    for layer in range(lstm.num_layers):
        outs = []
        for d in dirs:
            p = lambda n: getattr(lstm, f"{n}_l{layer}{d}")
            outs.append(_lstm_direction(inp, mask, p("weight_ih"), p("weight_hh"),
                                        p("bias_ih"), p("bias_hh"), reverse=(d != "")))
        inp = torch.cat(outs, dim=2) if len(outs) > 1 else outs[0]
    return inp


def run_lstm(lstm, x, mask, fast=True):
    """nn.LSTM directly when every frame is valid (fast path), else the masked loop."""
    if fast and bool((mask != 0).all()):
        out, _ = lstm(x)
        return out
    return masked_lstm(lstm, x, mask)


def bi_average(out):
    H = out.shape[-1] // 2
    return 0.5 * (out[..., :H] + out[..., H:])


# ---------------------------------------------------------------- modules

def fcn(d_in, h):
    """FCN-[h,h]: Linear -> tanh -> Linear -> tanh (names net.0, net.2)."""
    return nn.Sequential(nn.Linear(d_in, h), nn.Tanh(), nn.Linear(h, h), nn.Tanh())


class GlobalEncoder(nn.Module):
    """q(v|x): frame-wise FCN, masked mean over time, Gau-V heads."""

    def __init__(self, cfg):
        super().__init__()
        self.net = fcn(cfg.x_dim, cfg.hidden)
        self.mu = nn.Linear(cfg.hidden, cfg.v_dim)
        self.logvar = nn.Linear(cfg.hidden, cfg.v_dim)

    def forward(self, x, mask):
        h = self.net(x)                                       # (T,B,H)
        pooled = (h * mask.unsqueeze(2)).sum(0) / mask.sum(0).unsqueeze(1)
        return self.mu(pooled), self.logvar(pooled)


class LocalEncoderFactorised(nn.Module):
    """q(z_t|x_t): frame-wise FCN + Gau-Z; does not see v."""

    def __init__(self, cfg):
        super().__init__()
        self.net = fcn(cfg.x_dim, cfg.hidden)
        self.mu = nn.Linear(cfg.hidden, cfg.z_dim)
        self.logvar = nn.Linear(cfg.hidden, cfg.z_dim)

    def forward(self, x, mask, v, fast=True):
        h = self.net(x)
        return self.mu(h), self.logvar(h)


class LocalEncoderFull(nn.Module):
    """q(z_t|x_1:T, v): 2-layer BiLSTM over concat(x_t, v), directions averaged, Gau-Z."""

    def __init__(self, cfg):
        super().__init__()
        self.lstm = nn.LSTM(cfg.x_dim + cfg.v_dim, cfg.lstm_hidden, num_layers=2, bidirectional=True)
        self.mu = nn.Linear(cfg.lstm_hidden, cfg.z_dim)
        self.logvar = nn.Linear(cfg.lstm_hidden, cfg.z_dim)

    def forward(self, x, mask, v, fast=True):
        inp = torch.cat([x, v.unsqueeze(0).expand(x.shape[0], -1, -1)], dim=2)
        h = bi_average(run_lstm(self.lstm, inp, mask, fast))
        return self.mu(h), self.logvar(h)


class Transition(nn.Module):
    """p(z_t|z_<t): 2-layer LSTM over the sampled z; head outputs at t are the prior of t+1."""

    def __init__(self, cfg):
        super().__init__()
        self.lstm = nn.LSTM(cfg.z_dim, cfg.trans_hidden, num_layers=2)
        self.mu = nn.Linear(cfg.trans_hidden, cfg.z_dim)
        self.logvar = nn.Linear(cfg.trans_hidden, cfg.z_dim)

    def forward(self, z, mask, fast=True):
        """Returns the prior (mu, logvar) of every frame: N(0,I) at t=0, heads(o_{t-1}) after."""
        o = run_lstm(self.lstm, z, mask, fast)
        mu, lv = self.mu(o), self.logvar(o)
        zero = z.new_zeros(1, *z.shape[1:])
        return torch.cat([zero, mu[:-1]], 0), torch.cat([zero, lv[:-1]], 0)


class DecoderFactorised(nn.Module):
    """p(x_t|z_t, v): FCN on concat(z_t, v), Linear to the mean (unit variance)."""

    def __init__(self, cfg):
        super().__init__()
        self.net = fcn(cfg.z_dim + cfg.v_dim, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.x_dim)

    def forward(self, z, v, mask, fast=True):
        inp = torch.cat([z, v.unsqueeze(0).expand(z.shape[0], -1, -1)], dim=2)
        return self.out(self.net(inp))


class DecoderRicher(nn.Module):
    """p(x_t|z_1:T, v): BiLSTM over z (directions averaged), concat v, FCN, Linear."""

    def __init__(self, cfg):
        super().__init__()
        self.lstm = nn.LSTM(cfg.z_dim, cfg.lstm_hidden, num_layers=2, bidirectional=True)
        self.net = fcn(cfg.lstm_hidden + cfg.v_dim, cfg.hidden)
        self.out = nn.Linear(cfg.hidden, cfg.x_dim)

    def forward(self, z, v, mask, fast=True):
        h = bi_average(run_lstm(self.lstm, z, mask, fast))
        inp = torch.cat([h, v.unsqueeze(0).expand(z.shape[0], -1, -1)], dim=2)
        return self.out(self.net(inp))


# ---------------------------------------------------------------- maths

def kl_gauss(mu1, lv1, mu2, lv2):
    """Element-wise KL(N(mu1, e^lv1) || N(mu2, e^lv2))."""
    return 0.5 * (lv2 - lv1 + (torch.exp(lv1) + (mu1 - mu2) ** 2) / torch.exp(lv2) - 1.0)


def kl_std(mu, lv):
    return 0.5 * (-lv + torch.exp(lv) + mu ** 2 - 1.0)


def frame_kl_mean(kl, mask):
    """mean over b and dims of (sum over valid t of kl) / n_b. kl (T,B,D), mask (T,B)."""
    per_b = (kl * mask.unsqueeze(2)).sum(0) / mask.sum(0).unsqueeze(1)
    return per_b.mean()


def sample(mu, lv, eps):
    return mu + eps * torch.exp(0.5 * lv)


# ---------------------------------------------------------------- model

class DSAE(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg.validate()
        self.fast_lstm = True      # nn.LSTM when all lengths are equal
        # Stage 1 with factorised q: KL_z is reported but has no gradient; benchmarks may
        # skip it (kl_z = nan then, and the loss excludes it; the gradient is unchanged).
        self.report_frozen_kl_z = True
        self.global_encoder = GlobalEncoder(cfg)
        self.local_encoder = LocalEncoderFull(cfg) if cfg.q == "full" else LocalEncoderFactorised(cfg)
        self.transition = Transition(cfg)
        self.decoder = DecoderRicher(cfg) if cfg.decoder == "richer" else DecoderFactorised(cfg)
        if cfg.snapshot_prior:
            self.snapshot = copy.deepcopy(self.global_encoder)
        self.apply_trainable()

    def take_snapshot(self):
        """q_C := a frozen copy of the current global encoder (done at the stage switch)."""
        if hasattr(self, "snapshot"):
            self.snapshot.load_state_dict(self.global_encoder.state_dict())

    def apply_trainable(self):
        """requires_grad per the stage rules of the spec.

        Frozen means requires_grad=False, as in the authors' implementation: the frozen
        modules still pass gradients to their inputs. That matters only for full q in
        stage 1, where z depends on v: recon and KL_z then reach the global encoder
        through v -> local encoder (and -> transition). With factorised q nothing
        upstream of the local encoder trains, so KL_z has no gradient at all."""
        cfg = self.cfg
        for n, p in self.named_parameters():
            top = n.split(".", 1)[0]
            if top == "snapshot":
                p.requires_grad_(False)
            elif top in ("local_encoder", "transition"):
                p.requires_grad_(not cfg.local_frozen)
            elif top == "global_encoder":
                p.requires_grad_(not cfg.global_frozen)
            else:
                p.requires_grad_(True)

    def trainable_names(self):
        return [n for n, p in self.named_parameters() if p.requires_grad]

    def _encode(self, x, mask, eps_v, eps_z):
        fast = self.fast_lstm
        mu_v, lv_v = self.global_encoder(x, mask)
        v = sample(mu_v, lv_v, eps_v)
        mu_z, lv_z = self.local_encoder(x, mask, v, fast)
        z = sample(mu_z, lv_z, eps_z)
        return mu_v, lv_v, v, mu_z, lv_z, z

    def forward(self, x, mask, eps_v, eps_z, eps_v_g=None, eps_z_g=None, eps_v_l=None,
                eps_z_l=None, perm_g=None, perm_l=None):
        """All loss terms as a dict of 0-d tensors (TERMS); swap terms are 0 where absent."""
        cfg = self.cfg
        fast = self.fast_lstm
        mask = mask.to(x.dtype)
        mu_v, lv_v, v, mu_z, lv_z, z = self._encode(x, mask, eps_v, eps_z)

        xhat = self.decoder(z, v, mask, fast)
        # spec (corrected 2026-12-01): each sequence averaged over its own valid frames,
        # then over sequences and bins, like KL_z (the pooled mean weighed long sequences more)
        recon = frame_kl_mean((xhat - x) ** 2, mask)

        skip_kl_z = cfg.local_frozen and not self.report_frozen_kl_z
        if skip_kl_z and cfg.q != "factorised":
            raise ValueError("skipping the stage-1 KL_z is only gradient-neutral for factorised q")
        if skip_kl_z:
            kl_z = x.new_full((), float("nan"))
        else:
            pmu, plv = self.transition(z, mask, fast)
            kl_z = frame_kl_mean(kl_gauss(mu_z, lv_z, pmu, plv), mask)

        if cfg.snapshot_prior:
            cmu, clv = self.snapshot(x, mask)
            kl_v = kl_gauss(mu_v, lv_v, cmu, clv).mean()
        else:
            kl_v = kl_std(mu_v, lv_v).mean()

        zero = x.new_zeros(())
        swap = [zero, zero, zero, zero]
        if cfg.swaps:
            pi, rho = perm_g.long(), perm_l.long()
            # global swap: xg_i = dec(z_i, v_pi(i)), valid frames of x_i
            xg = self.decoder(z, v[pi], mask, fast)
            mu_vg, lv_vg, _, mu_zg, lv_zg, _ = self._encode(xg, mask, eps_v_g, eps_z_g)
            swap[0] = kl_gauss(mu_vg, lv_vg, mu_v[pi], lv_v[pi]).mean()
            swap[1] = frame_kl_mean(kl_gauss(mu_zg, lv_zg, mu_z, lv_z), mask)
            # local swap: xl_i = dec(z_rho(i), v_i), valid frames of x_rho(i)
            mask_l = mask[:, rho]
            xl = self.decoder(z[:, rho], v, mask_l, fast)
            mu_vl, lv_vl, _, mu_zl, lv_zl, _ = self._encode(xl, mask_l, eps_v_l, eps_z_l)
            swap[2] = kl_gauss(mu_vl, lv_vl, mu_v, lv_v).mean()
            swap[3] = frame_kl_mean(kl_gauss(mu_zl, lv_zl, mu_z[:, rho], lv_z[:, rho]), mask_l)

        loss = recon + (0 if skip_kl_z else kl_z) + kl_v + swap[0] + swap[1] + swap[2] + swap[3]
        return dict(loss=loss, recon=recon, kl_z=kl_z, kl_v=kl_v,
                    swap_1=swap[0], swap_2=swap[1], swap_3=swap[2], swap_4=swap[3])


def make_inputs(cfg, T, B, lengths=None, dtype=torch.float64, generator=None, device="cpu"):
    """Random x, mask, noise and permutations for one step. lengths: per-sequence valid frames."""
    g = generator
    kw = dict(dtype=dtype, device=device, generator=g)
    if lengths is None:
        lengths = [T] * B
    mask = torch.zeros(T, B, dtype=dtype, device=device)
    for b, n in enumerate(lengths):
        if not 1 <= n <= T:
            raise ValueError(f"length {n} of sequence {b} outside [1, {T}]")
        mask[:n, b] = 1
    x = torch.randn(T, B, cfg.x_dim, **kw) * mask.unsqueeze(2)
    Z, V = cfg.z_dim, cfg.v_dim
    return dict(
        x=x, mask=mask,
        eps_v=torch.randn(B, V, **kw), eps_z=torch.randn(T, B, Z, **kw),
        eps_v_g=torch.randn(B, V, **kw), eps_z_g=torch.randn(T, B, Z, **kw),
        eps_v_l=torch.randn(B, V, **kw), eps_z_l=torch.randn(T, B, Z, **kw),
        perm_g=torch.randperm(B, generator=g, device=device),
        perm_l=torch.randperm(B, generator=g, device=device),
    )


def loss_and_grads(model, inputs, want_x_grad=False):
    """Terms (floats) and {name: grad} of the loss w.r.t. every trainable parameter."""
    names = model.trainable_names()
    params = [p for n, p in model.named_parameters() if p.requires_grad]
    x = inputs["x"]
    if want_x_grad:
        x = x.detach().clone().requires_grad_(True)
    terms = model(**{**inputs, "x": x})
    wrt = params + ([x] if want_x_grad else [])
    grads = torch.autograd.grad(terms["loss"], wrt, allow_unused=True)
    out = {}
    for n, p, gr in zip(names + (["x"] if want_x_grad else []), wrt, grads):
        out[n] = torch.zeros_like(p) if gr is None else gr
    return {k: v.detach() for k, v in terms.items()}, out


def functional_loss(model, names, inputs):
    """loss as a function of the listed parameters (for gradcheck)."""
    def fn(*params):
        return stateless.functional_call(model, dict(zip(names, params)), (), inputs)["loss"]
    return fn
