#!/usr/bin/env python3
"""Independent numpy implementation of the spec's log-mel (torchaudio.transforms.MelSpectrogram
defaults: n_fft 2048, win 2048 periodic Hann, hop 256, center with reflect padding, power 2,
80 HTK mel filters 0-8000 Hz without normalisation, natural log(mel + 2.220446049250313e-16)).

Written from the definition (torchaudio's melscale_fbanks formula), in float64, without any
dsae code. Used by tests/audio (parity) because torchaudio and librosa are not installed.

usage: logmel_reference.py CLIPS.npy OUT.npy     (CLIPS: N x samples float32; OUT: N x T x 80)
exit 3 if numpy is not importable (the caller then skips the parity test).
"""
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover
    print("SKIPPED: numpy not importable")
    sys.exit(3)

SR, N_FFT, HOP, N_MELS, F_MIN, F_MAX = 16000, 2048, 256, 80, 0.0, 8000.0
EPS = 2.220446049250313e-16


def hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + f / 700.0)


def mel_to_hz(m):
    return 700.0 * (10.0 ** (m / 2595.0) - 1.0)


def mel_fbanks():
    n_freqs = N_FFT // 2 + 1
    all_freqs = np.linspace(0, SR // 2, n_freqs)
    m_pts = np.linspace(hz_to_mel(F_MIN), hz_to_mel(F_MAX), N_MELS + 2)
    f_pts = mel_to_hz(m_pts)
    f_diff = f_pts[1:] - f_pts[:-1]
    slopes = f_pts[None, :] - all_freqs[:, None]
    down = -slopes[:, :-2] / f_diff[:-1]
    up = slopes[:, 2:] / f_diff[1:]
    return np.maximum(0.0, np.minimum(down, up))  # n_freqs x n_mels


def log_mel(x):
    x = np.asarray(x, dtype=np.float64)
    padded = np.pad(x, (N_FFT // 2, N_FFT // 2), mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)  # periodic Hann
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    frames = padded[idx] * window[None, :]
    spec = np.abs(np.fft.rfft(frames, axis=1)) ** 2  # T x 1025
    mel = spec @ mel_fbanks()  # T x 80
    return np.log(mel + EPS)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    clips = np.load(sys.argv[1])
    out = np.stack([log_mel(c) for c in clips]).astype(np.float64)
    np.save(sys.argv[2], out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
