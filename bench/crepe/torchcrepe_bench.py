#!/usr/bin/env python3
"""torchcrepe 0.0.24 inference speed, the same measurement as dsae_crepe_bench:
    torchcrepe_bench.py PACKAGE_DIR [--capacity full|tiny] [--frames N] [--threads T] [--rounds R]
PACKAGE_DIR: the unpacked wheel in the CREPE cache (scripts/fetch-crepe-weights). Imports
it as tests/audio/crepe_peer.py does (librosa/resampy/tqdm/torchaudio stubbed). Times
torchcrepe.preprocess + torchcrepe.infer (no decoding), prints one JSON line per round."""
import argparse
import importlib.util
import json
import os
import sys
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "crepe_peer", os.path.join(here, "..", "..", "tests", "audio", "crepe_peer.py"))
crepe_peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(crepe_peer)

ap = argparse.ArgumentParser()
ap.add_argument("package")
ap.add_argument("--capacity", default="full")
ap.add_argument("--frames", type=int, default=32)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--rounds", type=int, default=3)
a = ap.parse_args()

crepe_peer.stub_modules()
sys.path.insert(0, a.package)
import torch  # noqa: E402
import torchcrepe  # noqa: E402

torch.set_num_threads(a.threads)
hop = 160
n = hop * (a.frames - 1) + 1
t = np.arange(n) / 16000.0
x = sum(np.sin(2 * np.pi * 220.0 * h * t) / h for h in range(1, 7)) * 0.3
x = x + np.random.default_rng(1).normal(0, 0.01, n)
audio = torch.tensor(x, dtype=torch.float32)[None, :]
macs = {"full": 1.4087e9, "tiny": 3.77e7}
with torch.no_grad():
    warm = next(torchcrepe.preprocess(audio[:, :2000], 16000, hop, None, "cpu", True))
    torchcrepe.infer(warm, a.capacity)
    for _ in range(a.rounds):
        t0 = time.perf_counter()
        frames = next(torchcrepe.preprocess(audio, 16000, hop, None, "cpu", True))
        act = torchcrepe.infer(frames, a.capacity)
        s = time.perf_counter() - t0
        print(json.dumps({"impl": "torchcrepe", "capacity": a.capacity, "threads": a.threads,
                          "frames": act.shape[0], "seconds": round(s, 4),
                          "frames_per_s": round(act.shape[0] / s, 3),
                          "gflop_per_s": round(2 * macs[a.capacity] * act.shape[0] / s * 1e-9, 2),
                          "torch": torch.__version__, "checksum": float(act.sum())}), flush=True)
