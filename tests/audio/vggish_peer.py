#!/usr/bin/env python3
"""Peer of dsae's VGGish (tests/audio/vggish_test.cpp).

    vggish_peer.py OUT_DIR

Writes, into OUT_DIR: weights.safetensors (a PyTorch definition of VGGish, written here from
the architecture of torchvggish, with seeded random weights under torchvggish's state-dict
names, and as a torch .pth state dict: weights.pth), audio.f32 (4 s of a 16 kHz test signal), examples.f64 (the front end written here in
numpy from the definition of vggish_input.waveform_to_examples / mel_features), and
embeddings.f32 (the torch network on those examples, 128-d output before the final ReLU).
"""
import importlib.util
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "safetensors_np", os.path.join(here, "..", "..", "bench", "reference", "safetensors_np.py"))
st = importlib.util.module_from_spec(spec)
spec.loader.exec_module(st)


def vggish():
    layers, cin = [], 1
    for v in [64, "M", 128, "M", 256, 256, "M", 512, 512, "M"]:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2, 2))
        else:
            layers += [torch.nn.Conv2d(cin, v, 3, padding=1), torch.nn.ReLU()]
            cin = v
    features = torch.nn.Sequential(*layers)
    embeddings = torch.nn.Sequential(torch.nn.Linear(512 * 4 * 6, 4096), torch.nn.ReLU(),
                                     torch.nn.Linear(4096, 4096), torch.nn.ReLU(),
                                     torch.nn.Linear(4096, 128))
    return features, embeddings


def forward(features, embeddings, x):  # x: N x 96 x 64
    h = features(x[:, None])                        # N x 512 x 6 x 4
    h = h.transpose(1, 3).transpose(1, 2).contiguous()  # N x 6 x 4 x 512 (torchvggish)
    return embeddings(h.view(h.size(0), -1))


def front_end(x):
    hz_to_mel = lambda f: 1127.0 * np.log(1.0 + f / 700.0)
    win, hop, nfft = 400, 160, 512
    n = 1 + (len(x) - win) // hop
    frames = np.stack([x[i * hop:i * hop + win] for i in range(n)])
    window = 0.5 - 0.5 * np.cos(2 * np.pi / win * np.arange(win))
    spec = np.abs(np.fft.rfft(frames * window, nfft))
    bins_mel = hz_to_mel(np.linspace(0.0, 8000.0, nfft // 2 + 1))
    edges = np.linspace(hz_to_mel(125.0), hz_to_mel(7500.0), 66)
    w = np.empty((nfft // 2 + 1, 64))
    for i in range(64):
        lo, c, up = edges[i:i + 3]
        w[:, i] = np.maximum(0.0, np.minimum((bins_mel - lo) / (c - lo), (up - bins_mel) / (up - c)))
    w[0, :] = 0.0
    logmel = np.log(spec @ w + 0.01)
    e = 1 + (logmel.shape[0] - 96) // 96
    return np.stack([logmel[i * 96:(i + 1) * 96] for i in range(e)])


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    features, embeddings = vggish()
    names = {}
    for i, m in enumerate(features):
        if isinstance(m, torch.nn.Conv2d):
            names[f"features.{i}.weight"], names[f"features.{i}.bias"] = m.weight, m.bias
    for i, m in enumerate(embeddings):
        if isinstance(m, torch.nn.Linear):
            names[f"embeddings.{i}.weight"], names[f"embeddings.{i}.bias"] = m.weight, m.bias
    st.save(os.path.join(out, "weights.safetensors"),
            {k: v.detach().numpy().astype(np.float32) for k, v in names.items()})
    # The same weights as torchvggish's state dict (.pth), for scripts/convert-vggish-weights.
    wrapper = torch.nn.Module()
    wrapper.features, wrapper.embeddings = features, embeddings
    torch.save(wrapper.state_dict(), os.path.join(out, "weights.pth"))
    t = np.arange(64000) / 16000.0
    x = (0.3 * sum(np.sin(2 * np.pi * 330.0 * h * t * (1 + 0.1 * t)) / h for h in range(1, 6))
         + np.random.default_rng(0).normal(0, 0.02, t.size)).astype(np.float32)
    x.tofile(os.path.join(out, "audio.f32"))
    ex = front_end(x.astype(np.float64))
    ex.astype("<f8").tofile(os.path.join(out, "examples.f64"))
    with torch.no_grad():
        emb = forward(features, embeddings, torch.tensor(ex, dtype=torch.float32))
    emb.numpy().astype("<f4").tofile(os.path.join(out, "embeddings.f32"))
    print(f"vggish peer: {ex.shape[0]} examples, |embedding| max {float(emb.abs().max()):.4g}")


if __name__ == "__main__":
    main()
