"""Export our fixed test sets as .npz, so other code can be tested on exactly our images.

    python scripts/export_testset.py rts                      # exports/rts.npz and exports/rts.npz.md
    python scripts/export_testset.py all --out-dir exports/   # all six
    python scripts/export_testset.py rotated --limit 1000

Each file holds ``images`` (uint8 (N, S, S), background 0), ``labels`` (int64 (N,)), the ground
truth where one exists (``matrix`` (N, 3, 3); ``tps`` (N, 16, 2) for elastic; float32) and
``readme``, a header saying how it was made (also written beside it as NAME.npz.md). The images
are those evaluate.py and train.py test on, byte for byte (the header carries their sha256).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from common import data, runs, testfiles  # noqa: E402
from common.config import HelpFormatter, Parser, at_least  # noqa: E402
from common.errors import UsageError  # noqa: E402

DISTORTION = {
    "mnist": "none: the MNIST test digits as they are",
    "rotated": "rotation uniform in ±90° about the digit's centre (the STN paper's R)",
    "rts": "rotation ±45°, scale 0.7–1.2, placed at a uniform random position that keeps the scaled 28-pixel box on the 42x42 canvas (RTS)",
    "projective": "each corner moved by N(0, 0.25²) in normalised units (12.5% of the side), clipped at 2σ (P)",
    "elastic": "4x4 thin-plate-spline control points moved by N(0, 1.5² px²) (E)",
    "cluttered": "digit at a random integer position on a 60x60 canvas, 6 pieces of 6x6 cut from random MNIST *training* digits (TC)",
}
GT = {
    "matrix": "float32 (N, 3, 3): the sampling matrix from the distorted canvas to the clean 28x28 digit, both in "
              "normalised coordinates (-1 and +1 are the centres of the first and last pixel, align_corners=True): "
              "distorted(p) = clean(matrix @ p) for p = (x, y, 1), x to the right, y down (divide by the third coordinate)",
    "tps": "float32 (N, 16, 2): displacements of the 4x4 thin-plate-spline control points (normalised units) that "
           "made the image (see common/geometry.py, tps_grid); matrix is the identity",
}


def header(name: str, ts: data.TestSet, command: str) -> str:
    try:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    n, size = len(ts), ts.images.shape[-1]
    lines = [
        f"# stn-lab test set `{name}` ({n:,} images, {size}x{size})", "",
        f"Distortion: {DISTORTION[name]}.", "",
        f"Made by stn-lab's common/data.py (commit {commit}) from the first {n:,} MNIST test digits in their order, "
        f"labels theirs; generator version {data.GENERATOR_VERSION}, seed {data.TEST_SEED}, parameters "
        f"{json.dumps(data.DATASETS[name], sort_keys=True)} (cache key {data.cache_key(name) if name != 'mnist' else '-'}).",
        f"Command: `{command}`", "",
        "Arrays:",
        f"- images: uint8 (N, {size}, {size}) in [0, 255], background 0 (divide by 255 for [0, 1])",
        "- labels: int64 (N,), the digit 0..9",
    ]
    lines += [f"- {k}: {GT[k]}" for k in ts.gt]
    lines += ["", "Read it: `z = numpy.load(path); z['images'], z['labels']`; evaluate an stn-lab model on it: "
              "`python evaluate.py RUN --test-file NAME=path`."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    ap.add_argument("sets", nargs="+", help=f"test sets to export: {', '.join(data.DATASETS)}, or all")
    ap.add_argument("--out-dir", default="exports", help="folder for NAME.npz and NAME.npz.md")
    ap.add_argument("--limit", type=at_least(0), default=0, help="first N images only (0: all)")
    ap.add_argument("--data-root", default="", help="MNIST root (default: $STN_DATA_ROOT, else ./data)")
    ap.add_argument("--cache-dir", default="", help="test-set cache (default: $STN_CACHE_DIR, else ./cache)")
    a = ap.parse_args(argv)
    names = list(data.DATASETS) if a.sets == ["all"] else a.sets
    try:
        unknown = [n for n in names if n not in data.DATASETS]
        if unknown:
            raise UsageError(f"unknown test set {unknown[0]!r}; choose from {', '.join(data.DATASETS)}, or all")
        root, cache = data.resolve_data_root(a.data_root), data.resolve_cache_dir(a.cache_dir)
        runs.writable_folder(a.out_dir, "--out-dir")  # before any set is made
        command = "python scripts/export_testset.py " + " ".join(argv if argv is not None else sys.argv[1:])
        for name in names:
            ts = data.load_test_set(name, root, cache).head(a.limit)
            path = testfiles.export(ts, Path(a.out_dir) / f"{name}.npz", header(name, ts, command))
            print(f"wrote {path} ({len(ts):,} images) and {path.name}.md")
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"error: cannot write to {a.out_dir} ({err.strerror}); pass --out-dir pointing at a writable folder", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(runs.cli(main))
