#!/usr/bin/python3
"""Reference peers for tests/eval (run by Debian's /usr/bin/python3).

usage: peer.py <task> <dir>
  lda      every sub-folder of <dir> holds X.csv, y.csv (train), T.csv, yt.csv (test);
           writes sklearn LinearDiscriminantAnalysis() results next to them.
  f1       every sub-folder holds y_true.csv, y_pred.csv; writes f1_score(average='macro'),
           f1_score(average=None), accuracy_score and confusion_matrix.
  rpa      every sub-folder holds ref.csv, est.csv (Hz, one column) and tol.csv; writes
           mir_eval RPA for a time base from 0 (rpa.csv), from 10 ms (rpa_t.csv, through
           mir_eval.melody.evaluate) and the cents (cents.csv: ref_v, ref_c, est_v, est_c).
  frechet  every sub-folder holds X1.csv, X2.csv; writes the Frechet distance computed
           with numpy.cov and scipy.linalg.sqrtm (fd.csv) and in 50-digit mpmath
           arithmetic (fd_mp.csv).
All CSVs are written with %.17g so that doubles round-trip.
"""
import os
import sys
import warnings

import numpy as np


def load(d, name, dtype=float):
    a = np.loadtxt(os.path.join(d, name), delimiter=",", dtype=dtype, ndmin=2)
    return a


def save(d, name, a):
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        a = a.reshape(1, 1)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    np.savetxt(os.path.join(d, name), a, delimiter=",", fmt="%.17g")


def cases(root):
    return [os.path.join(root, c) for c in sorted(os.listdir(root))
            if os.path.isdir(os.path.join(root, c))]


def task_lda(root):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import f1_score
    for d in cases(root):
        X = load(d, "X.csv")
        y = load(d, "y.csv", int).ravel()
        T = load(d, "T.csv")
        yt = load(d, "yt.csv", int).ravel()
        m = LinearDiscriminantAnalysis().fit(X, y)
        pred = m.predict(T)
        save(d, "pred.csv", pred)
        dec = m.decision_function(T)
        save(d, "dec.csv", dec)
        save(d, "proba.csv", m.predict_proba(T))
        save(d, "coef.csv", m.coef_)
        save(d, "intercept.csv", m.intercept_)
        save(d, "rank.csv", [m.scalings_.shape[1]])
        save(d, "f1.csv", [f1_score(yt, pred, average="macro")])


def task_f1(root):
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score
    warnings.simplefilter("ignore")  # zero-division warnings are part of the cases
    for d in cases(root):
        yt = load(d, "y_true.csv", int).ravel()
        yp = load(d, "y_pred.csv", int).ravel()
        save(d, "macro.csv", [f1_score(yt, yp, average="macro")])
        save(d, "per_class.csv", f1_score(yt, yp, average=None))
        save(d, "accuracy.csv", [accuracy_score(yt, yp)])
        save(d, "confusion.csv", confusion_matrix(yt, yp))


def task_rpa(root):
    import mir_eval
    warnings.simplefilter("ignore")  # empty/unvoiced contours warn by design
    for d in cases(root):
        ref = load(d, "ref.csv").ravel()
        est = load(d, "est.csv").ravel()
        tol = float(load(d, "tol.csv").ravel()[0])
        t0 = np.arange(ref.size) * 0.01
        rv, rc, ev, ec = mir_eval.melody.to_cent_voicing(t0, ref, t0, est)
        save(d, "rpa.csv", [mir_eval.melody.raw_pitch_accuracy(rv, rc, ev, ec,
                                                               cent_tolerance=tol)])
        save(d, "cents.csv", np.stack([rv, rc, ev, ec], axis=1))
        t1 = t0 + 0.01
        save(d, "rpa_t.csv", [mir_eval.melody.evaluate(t1, ref, t1, est)["Raw Pitch Accuracy"]])


def task_frechet(root):
    from scipy import linalg
    for d in cases(root):
        X1 = load(d, "X1.csv")
        X2 = load(d, "X2.csv")
        mu1, mu2 = X1.mean(axis=0), X2.mean(axis=0)
        S1, S2 = np.cov(X1, rowvar=False), np.cov(X2, rowvar=False)
        covmean = linalg.sqrtm(S1.dot(S2), disp=False)[0]
        if np.iscomplexobj(covmean):
            covmean = covmean.real
        diff = mu1 - mu2
        fd = diff.dot(diff) + np.trace(S1) + np.trace(S2) - 2.0 * np.trace(covmean)
        save(d, "fd.csv", [fd])
        save(d, "cov1.csv", S1)
        save(d, "fd_mp.csv", [frechet_mpmath(X1, X2)])


def frechet_mpmath(X1, X2, dps=50):
    """The same distance in 50-digit arithmetic (mpmath): the accuracy reference for
    ill-conditioned and singular covariances, where sqrtm in double loses digits."""
    import mpmath as mp
    mp.mp.dps = dps

    def fit(X):
        n, dim = X.shape
        mean = [mp.fsum(mp.mpf(v) for v in X[:, j]) / n for j in range(dim)]
        xc = mp.matrix([[mp.mpf(X[i, j]) - mean[j] for j in range(dim)] for i in range(n)])
        return mean, (xc.T * xc) / (n - 1)

    mu1, S1 = fit(X1)
    mu2, S2 = fit(X2)
    e, q = mp.eigsy(S1)
    r1 = q * mp.diag([mp.sqrt(max(v, 0)) for v in e]) * q.T
    m = r1 * S2 * r1
    m = (m + m.T) / 2
    e2 = mp.eigsy(m, eigvals_only=True)
    tr_sqrt = mp.fsum(mp.sqrt(max(v, 0)) for v in e2)
    dist = mp.fsum((a - b) ** 2 for a, b in zip(mu1, mu2))
    tr = mp.fsum(S1[k, k] + S2[k, k] for k in range(S1.rows))
    return float(dist + tr - 2 * tr_sqrt)


if __name__ == "__main__":
    task, root = sys.argv[1], sys.argv[2]
    {"lda": task_lda, "f1": task_f1, "rpa": task_rpa, "frechet": task_frechet}[task](root)
