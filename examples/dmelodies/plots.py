#!/usr/bin/python3
"""Figures of the dsae evaluation (paper Figs. 3-7) from the experiment driver's results.

Input: results.csv, one row per trained run, header line required, columns in any order:

    run_id      unique name of the run (string)
    method      a name of the method registry (dsae-train --list-methods: dsae, dsae-f, ...)
    q           local-encoder variant, e.g. "factorised" or "full" (Fig. 6 compares them)
    z           local latent size Z (8, 16 or 32 in the paper)
    seed        training seed
    f1_pre      macro F1 of the LDA on v-means re-inferred from reconstructions
    f1_global   macro F1 after the global swap decode(z_i, v_j), truth y_j
    f1_local    macro F1 after the local swap decode(z_j, v_i), truth y_i
    recon_mse   reconstruction MSE on log-mel (validation)
    frechet     Frechet distance of embeddings of real vs reconstructed audio (may be empty)
    rpa_pre, rpa_global, rpa_local
                raw pitch accuracy (50 cents) of reconstruction / global swap (vs input i) /
                local swap (vs input j); may be empty or absent

Empty cells and "nan" are missing values. Figures (PNG, Agg backend):

    fig3_f1.png            box plots of the three F1 scores by Z, one box per method
    fig4_recon_vs_f1.png   reconstruction MSE (and Frechet distance when present) against
                           post-swap F1, one point per run, one marker per method
    fig5_rpa.png           RPA by method and Z (only when RPA values are present)
    fig6_q.png             post-swap F1 per method for each q at Z = 16 (only with >= 2 q values)
    summary.csv            median and count of every score per (q, method, z)

Figs. 3-5 use the runs of one q (--q; default "factorised" if present, else the most
frequent value).

Usage:
    plots.py results --csv results.csv --out DIR [--q factorised] [--title dMelodies]
    plots.py spectrograms --npy src.npy t1.npy t2.npy t3.npy --titles "source" "a" "b" "c" \\
        --out fig7.png [--layout time-freq|freq-time] [--cols 4]

The spectrogram arrays are 2-D log-mel arrays, T x F (time-major, the library's layout)
unless --layout freq-time; they are drawn with one colour scale, time on x, mel bin on y.
"""
import argparse
import csv
import json
import math
import os
import sys

import numpy as np

plt = None  # matplotlib.pyplot, imported (Agg backend) once the input has been validated


def _init_matplotlib():
    global plt
    if plt is None:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as pyplot
        plt = pyplot

# Methods, their order and labels: the library's method registry (`dsae-train --list-methods`,
# include/dsae/model/registry.hpp), read from --methods-json or methods.json beside the CSV
# (dsae-experiment writes it); without one, the CSV's own method names in order of appearance.
METHODS = []
METHOD_LABELS = {}
METHOD_COLORS = {}
METHOD_MARKERS = {}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
MARKER_CYCLE = ["o", "s", "^", "D", "v", "P", "X", "*"]


def set_methods(names, labels=None):
    METHODS[:] = list(names)
    METHOD_LABELS.clear()
    METHOD_LABELS.update({m: (labels or {}).get(m, m) for m in METHODS})
    METHOD_COLORS.clear()
    METHOD_COLORS.update({m: PALETTE[k % len(PALETTE)] for k, m in enumerate(METHODS)})
    METHOD_MARKERS.clear()
    METHOD_MARKERS.update({m: MARKER_CYCLE[k % len(MARKER_CYCLE)] for k, m in enumerate(METHODS)})


def load_methods(json_path, csv_path):
    """The registry from json_path (or methods.json beside the CSV); else the CSV's names."""
    path = json_path or os.path.join(os.path.dirname(os.path.abspath(csv_path)), "methods.json")
    if os.path.exists(path):
        try:
            reg = json.load(open(path))
            set_methods([m["name"] for m in reg["methods"]], {m["name"]: m["label"] for m in reg["methods"]})
            return
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SystemExit(f"{path}: not a method registry (dsae-train --list-methods): {e}")
    if json_path:
        raise SystemExit(f"{json_path}: not found (write it with: dsae-train --list-methods > {json_path})")
    with open(csv_path, newline="") as f:
        names = list(dict.fromkeys((r.get("method") or "").strip() for r in csv.DictReader(f)))
    print(f"plots.py: no methods.json beside {csv_path}: methods in CSV order, labels = names "
          "(dsae-train --list-methods > methods.json gives the paper's labels)", file=sys.stderr)
    set_methods([n for n in names if n])
Z_VALUES = [8, 16, 32]
REQUIRED = ["run_id", "method", "q", "z", "seed", "f1_pre", "f1_global", "f1_local", "recon_mse"]
NUMERIC = ["z", "seed", "f1_pre", "f1_global", "f1_local", "recon_mse", "frechet",
           "rpa_pre", "rpa_global", "rpa_local"]
F1_COLS = [("f1_pre", "pre-swap"), ("f1_global", "post-global-swap"),
           ("f1_local", "post-local-swap")]
RPA_COLS = [("rpa_pre", "pre-swap"), ("rpa_global", "post-global-swap"),
            ("rpa_local", "post-local-swap")]


def _num(s):
    s = (s or "").strip()
    if s == "" or s.lower() == "nan":
        return math.nan
    return float(s)


def read_results(path):
    """Rows of results.csv as dicts; numeric columns as float (NaN when missing)."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"{path}: missing column(s) {', '.join(missing)}; "
                             f"header is {reader.fieldnames}")
        rows = []
        for k, r in enumerate(reader, start=2):
            row = dict(r)
            for c in NUMERIC:
                try:
                    row[c] = _num(r.get(c))
                except ValueError:
                    raise SystemExit(f"{path}:{k}: column {c} is not a number: {r.get(c)!r}")
            row["method"] = row["method"].strip()
            row["q"] = (row.get("q") or "").strip()
            if row["method"] not in METHODS:
                raise SystemExit(f"{path}:{k}: unknown method {row['method']!r}; "
                                 f"expected one of {METHODS}")
            rows.append(row)
    if not rows:
        raise SystemExit(f"{path}: no runs")
    return rows


def _values(rows, method, z, col):
    return [r[col] for r in rows
            if r["method"] == method and r["z"] == z and not math.isnan(r[col])]


def _z_values(rows):
    zs = sorted({int(r["z"]) for r in rows if not math.isnan(r["z"])})
    return [z for z in Z_VALUES if z in zs] + [z for z in zs if z not in Z_VALUES]


def _grouped_boxes(ax, rows, col, zs, ylabel, title, ylim=None):
    width = 0.8 / len(METHODS)
    for mi, m in enumerate(METHODS):
        data, pos = [], []
        for zi, z in enumerate(zs):
            v = _values(rows, m, z, col)
            if v:
                data.append(v)
                pos.append(zi + (mi - (len(METHODS) - 1) / 2) * width)
        if not data:
            continue
        bp = ax.boxplot(data, positions=pos, widths=width * 0.85, patch_artist=True,
                        manage_ticks=False)
        for patch in bp["boxes"]:
            patch.set_facecolor(METHOD_COLORS[m])
            patch.set_alpha(0.75)
        for med in bp["medians"]:
            med.set_color("black")
    ax.set_xticks(range(len(zs)))
    ax.set_xticklabels([f"Z = {z}" for z in zs])
    ax.set_xlim(-0.5, len(zs) - 0.5)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ylim:
        ax.set_ylim(*ylim)
    ax.grid(axis="y", alpha=0.3)


def _legend(fig, methods):
    handles = [plt.Rectangle((0, 0), 1, 1, color=METHOD_COLORS[m], alpha=0.75) for m in methods]
    fig.legend(handles, [METHOD_LABELS[m] for m in methods], loc="lower center",
               ncol=len(methods), frameon=False)


def _present_methods(rows):
    have = {r["method"] for r in rows}
    return [m for m in METHODS if m in have]


def fig3(rows, out, title):
    zs = _z_values(rows)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    for ax, (col, name) in zip(axes, F1_COLS):
        _grouped_boxes(ax, rows, col, zs, "macro F1" if col == "f1_pre" else "", name,
                       ylim=(-0.05, 1.05))
    fig.suptitle(f"{title}: instrument classification (LDA on v-means)")
    _legend(fig, _present_methods(rows))
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    path = os.path.join(out, "fig3_f1.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def fig4(rows, out, title):
    quality = [("recon_mse", "reconstruction MSE (log-mel)")]
    if any(not math.isnan(r["frechet"]) for r in rows):
        quality.append(("frechet", "Frechet distance (embeddings)"))
    fig, axes = plt.subplots(len(quality), 2, figsize=(11, 4.2 * len(quality)), squeeze=False)
    for qi, (qcol, qname) in enumerate(quality):
        for si, (fcol, fname) in enumerate(F1_COLS[1:]):
            ax = axes[qi][si]
            for m in _present_methods(rows):
                pts = [(r[fcol], r[qcol]) for r in rows if r["method"] == m
                       and not math.isnan(r[fcol]) and not math.isnan(r[qcol])]
                if pts:
                    x, y = zip(*pts)
                    ax.scatter(x, y, marker=METHOD_MARKERS[m], color=METHOD_COLORS[m],
                               label=METHOD_LABELS[m], alpha=0.8)
            ax.set_xlabel(f"{fname} F1")
            ax.set_ylabel(qname)
            ax.set_xlim(-0.05, 1.05)
            ax.grid(alpha=0.3)
    axes[0][0].legend(frameon=False)
    fig.suptitle(f"{title}: reconstruction quality vs post-swap F1 (one point per run)")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    path = os.path.join(out, "fig4_recon_vs_f1.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def fig5(rows, out, title):
    if not any(not math.isnan(r[c]) for r in rows for c, _ in RPA_COLS):
        return None
    zs = _z_values(rows)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    for ax, (col, name) in zip(axes, RPA_COLS):
        _grouped_boxes(ax, rows, col, zs, "raw pitch accuracy" if col == "rpa_pre" else "",
                       name, ylim=(-0.05, 1.05))
    fig.suptitle(f"{title}: raw pitch accuracy (50 cents)")
    _legend(fig, _present_methods(rows))
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    path = os.path.join(out, "fig5_rpa.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def fig6(all_rows, out, title, z=16):
    qs = sorted({r["q"] for r in all_rows})
    rows = [r for r in all_rows if r["z"] == z]
    if len(qs) < 2 or not rows:
        return None
    methods = _present_methods(rows)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for ax, (col, name) in zip(axes, F1_COLS[1:]):
        width = 0.8 / len(qs)
        for qi, q in enumerate(qs):
            data, pos = [], []
            for mi, m in enumerate(methods):
                v = [r[col] for r in rows if r["q"] == q and r["method"] == m
                     and not math.isnan(r[col])]
                if v:
                    data.append(v)
                    pos.append(mi + (qi - (len(qs) - 1) / 2) * width)
            if data:
                bp = ax.boxplot(data, positions=pos, widths=width * 0.85, patch_artist=True,
                                manage_ticks=False)
                for patch in bp["boxes"]:
                    patch.set_facecolor(plt.cm.Set2(qi))
                for med in bp["medians"]:
                    med.set_color("black")
        ax.set_xticks(range(len(methods)))
        ax.set_xticklabels([METHOD_LABELS[m] for m in methods])
        ax.set_xlim(-0.5, len(methods) - 0.5)
        ax.set_ylim(-0.05, 1.05)
        ax.set_title(f"{name}, Z = {z}")
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("macro F1")
    handles = [plt.Rectangle((0, 0), 1, 1, color=plt.cm.Set2(i)) for i in range(len(qs))]
    fig.legend(handles, [f"q = {q}" for q in qs], loc="lower center", ncol=len(qs), frameon=False)
    fig.suptitle(f"{title}: encoder variants")
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    path = os.path.join(out, "fig6_q.png")
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_summary(rows, out):
    cols = [c for c, _ in F1_COLS] + ["recon_mse", "frechet"] + [c for c, _ in RPA_COLS]
    path = os.path.join(out, "summary.csv")
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["q", "method", "z", "runs"] + [f"{c}_median" for c in cols])
        for q in sorted({r["q"] for r in rows}):
            for m in METHODS:
                for z in _z_values(rows):
                    sel = [r for r in rows if r["q"] == q and r["method"] == m and r["z"] == z]
                    if not sel:
                        continue
                    med = []
                    for c in cols:
                        v = [r[c] for r in sel if not math.isnan(r[c])]
                        med.append(f"{float(np.median(v)):.6g}" if v else "")
                    w.writerow([q, m, z, len(sel)] + med)
    return path


def pick_q(rows, wanted):
    qs = [r["q"] for r in rows]
    if wanted is not None:
        if wanted not in qs:
            raise SystemExit(f"--q {wanted!r} not in results (q values: {sorted(set(qs))})")
        return wanted
    if "factorised" in qs:
        return "factorised"
    return max(sorted(set(qs)), key=qs.count)


def cmd_results(args):
    load_methods(args.methods_json, args.csv)
    rows = read_results(args.csv)
    q = pick_q(rows, args.q)
    _init_matplotlib()
    os.makedirs(args.out, exist_ok=True)
    sel = [r for r in rows if r["q"] == q]
    title = args.title or os.path.splitext(os.path.basename(args.csv))[0]
    written = [fig3(sel, args.out, title), fig4(sel, args.out, title),
               fig5(sel, args.out, title), fig6(rows, args.out, title),
               write_summary(rows, args.out)]
    for p in written:
        if p:
            print(p)


def load_spectrogram(path, layout):
    a = np.load(path)
    a = np.squeeze(a)
    if a.ndim != 2:
        raise SystemExit(f"{path}: expected a 2-D log-mel array, got shape {a.shape}")
    return a.T if layout == "time-freq" else a  # rows = mel bins for imshow


def draw_spectrograms(arrays, titles, out, cols=None, suptitle=None):
    """Grid of log-mel images (each F x T) with one colour scale; returns the PNG path."""
    n = len(arrays)
    cols = cols or n
    rows = int(math.ceil(n / cols))
    lo = min(float(np.nanmin(a)) for a in arrays)
    hi = max(float(np.nanmax(a)) for a in arrays)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols + 1.0, 3.0 * rows), squeeze=False,
                             layout="constrained")
    im = None
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        im = ax.imshow(arrays[k], origin="lower", aspect="auto", vmin=lo, vmax=hi,
                       cmap="magma", interpolation="nearest")
        ax.set_title(titles[k] if k < len(titles) else f"#{k}")
        ax.set_xlabel("frame")
        if k % cols == 0:
            ax.set_ylabel("mel bin")
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.9, label="log-mel")
    if suptitle:
        fig.suptitle(suptitle)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def cmd_spectrograms(args):
    arrays = [load_spectrogram(p, args.layout) for p in args.npy]
    titles = args.titles or [os.path.splitext(os.path.basename(p))[0] for p in args.npy]
    if len(titles) != len(arrays):
        raise SystemExit(f"{len(arrays)} arrays but {len(titles)} titles")
    _init_matplotlib()
    d = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(d, exist_ok=True)
    print(draw_spectrograms(arrays, titles, args.out, args.cols, args.title))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("results", help="Figs. 3-6 and summary.csv from results.csv")
    r.add_argument("--csv", required=True)
    r.add_argument("--out", required=True, help="output folder")
    r.add_argument("--q", default=None, help="q value used for Figs. 3-5")
    r.add_argument("--title", default=None, help="dataset name for the titles")
    r.add_argument("--methods-json", default=None,
                   help="the method registry (dsae-train --list-methods); default: methods.json beside --csv")
    r.set_defaults(func=cmd_results)
    s = sub.add_parser("spectrograms", help="Fig. 7-like grid of log-mel arrays (.npy)")
    s.add_argument("--npy", nargs="+", required=True)
    s.add_argument("--titles", nargs="+", default=None)
    s.add_argument("--out", required=True, help="output PNG")
    s.add_argument("--layout", choices=["time-freq", "freq-time"], default="time-freq")
    s.add_argument("--cols", type=int, default=None)
    s.add_argument("--title", default=None)
    s.set_defaults(func=cmd_spectrograms)
    args = p.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    sys.exit(main())
