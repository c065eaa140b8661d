"""Shared start of the dsae-experiment end-to-end tests: the visible skips (exit 77, which
ctest reports as skipped) and the common command line (--driver, --build-dir, --work)."""
import argparse
import os
import shutil
import sys

SOUNDFONT = "/usr/share/sounds/sf3/MuseScore_General.sf3"


def start(need_soundfont=True):
    """Skips visibly when a peer is missing; returns the parsed args with an empty --work."""
    for mod in ("numpy", "matplotlib"):
        try:
            __import__(mod)
        except ImportError:
            print(f"SKIPPED: {mod} not importable")
            sys.exit(77)
    if need_soundfont and not os.path.exists(SOUNDFONT):
        print(f"SKIPPED: soundfont {SOUNDFONT} missing (musescore-general-soundfont)")
        sys.exit(77)
    ap = argparse.ArgumentParser()
    ap.add_argument("--driver", required=True)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    return args
