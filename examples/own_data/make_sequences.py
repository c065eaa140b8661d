#!/usr/bin/env python3
"""A small labelled set of variable-length sequences for docs/tutorial/own_data.md.

Each sequence has F features per frame and two planted factors:
  speaker  (global): a fixed spectral envelope added to every frame of the sequence;
  contour  (local):  a bump that moves across the features along one of four paths
                     (rising, falling, rise-fall, fall-rise) at the sequence's own pace.
Lengths vary from T/3 to T; frames past a length are padding, filled with NaN here on
purpose (dsae-train ignores them when --lengths is given).

    python3 make_sequences.py OUT_DIR [--n 480] [--frames 48] [--features 16] [--seed 0]

writes OUT_DIR/{x.npy (N x T x F float64), lengths.npy (int64), labels.npy (N x 2 int64)}.
"""
import argparse
import os

import numpy as np


def make(n, frames, features, seed):
    rng = np.random.default_rng(seed)
    bins = np.arange(features)
    envelopes = rng.normal(size=(4, features)) * 4.0  # one per speaker
    x = np.full((n, frames, features), np.nan)
    lengths = rng.integers(frames // 3, frames + 1, size=n)
    speaker = rng.integers(0, 4, size=n)
    contour = rng.integers(0, 4, size=n)
    for i in range(n):
        t = np.linspace(0, 1, lengths[i])
        path = [t, 1 - t, 1 - np.abs(2 * t - 1), np.abs(2 * t - 1)][contour[i]]
        centre = 1 + path * (features - 3)
        bump = 8.0 * np.exp(-0.5 * ((bins[None, :] - centre[:, None]) / 1.2) ** 2)
        noise = rng.normal(size=(lengths[i], features)) * 0.5
        x[i, :lengths[i]] = envelopes[speaker[i]][None, :] + bump + noise
    labels = np.stack([speaker, contour], axis=1).astype(np.int64)
    return x, lengths.astype(np.int64), labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=480)
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--features", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    x, lengths, labels = make(a.n, a.frames, a.features, a.seed)
    for name, arr in (("x.npy", x), ("lengths.npy", lengths), ("labels.npy", labels)):
        np.save(os.path.join(a.out, name), arr)
    print(f"{a.out}: x.npy {x.shape} float64 (NaN padding), lengths.npy {lengths.min()}..{lengths.max()}, "
          f"labels.npy {labels.shape} (speaker, contour)")


if __name__ == "__main__":
    main()
