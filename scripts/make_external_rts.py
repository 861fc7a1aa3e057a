"""An RTS test set made independently of stn-lab's generator, to test models on images we did not make.

    python scripts/make_external_rts.py --out results/robustness/external/rts_anywhere.npz

The STN paper's RTS protocol (rotation ±45°, scale 0.7–1.2, random position on a 42x42 canvas),
written a second time with other tools and one deliberate difference: our generator
(common/data.py) keeps the scaled digit's whole 28-pixel box on the canvas, this one places the
digit anywhere its *ink* stays on the canvas, so digits reach further from the centre.

How: each MNIST test digit is pasted at the centre of a 96x96 canvas, rotated and scaled about
that centre by torchvision's ``transforms.v2.functional.affine`` (bilinear), then a 42x42 window
is cut at a uniformly drawn integer position among those that hold every inked pixel (> 0 after
rounding to uint8). Angle, scale and position come from numpy's PCG64 with a fixed seed.
It imports nothing from stn-lab (no common.data, no common.geometry).

Writes an .npz with images (uint8 (N, 42, 42)), labels (int64 (N,)), angle (degrees, as
``affine`` takes it: positive turns the digit clockwise on screen), scale, shift ((N, 2), x and y in pixels of the digit's
centre from the canvas centre) and readme (how it was made; also beside it as .npz.md).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))  # its sibling, also free of stn-lab imports
from make_external_sets import Parser, load_mnist, save, whole, writable  # noqa: E402

CANVAS, BIG, DIGIT = 42, 96, 28


def make(images: np.ndarray, seed: int, max_angle: float = 45.0, scale=(0.7, 1.2)) -> dict[str, np.ndarray]:
    """Distort uint8 ``(N, 28, 28)`` digits; returns images uint8 ``(N, 42, 42)`` and the draws."""
    rng = np.random.default_rng(seed)
    n = images.shape[0]
    angle = rng.uniform(-max_angle, max_angle, n)
    scl = rng.uniform(*scale, n)
    off = (BIG - DIGIT) // 2
    out = np.zeros((n, CANVAS, CANVAS), np.uint8)
    shift = np.zeros((n, 2), np.float64)
    for i in tqdm(range(n), desc="rts-anywhere", unit="digit", mininterval=2):
        big = torch.zeros(1, BIG, BIG)
        big[0, off : off + DIGIT, off : off + DIGIT] = torch.from_numpy(images[i]).float() / 255
        warped = TF.affine(big, angle=float(angle[i]), translate=[0, 0], scale=float(scl[i]), shear=[0.0, 0.0],
                           interpolation=InterpolationMode.BILINEAR, fill=0.0)
        ink = (warped[0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
        rows, cols = np.nonzero(ink.any(1))[0], np.nonzero(ink.any(0))[0]
        # window tops (y0, x0) that keep rows[0]..rows[-1] and cols[0]..cols[-1] inside [y0, y0 + 41]
        y0 = rng.integers(rows[-1] - (CANVAS - 1), rows[0] + 1)
        x0 = rng.integers(cols[-1] - (CANVAS - 1), cols[0] + 1)
        out[i] = ink[y0 : y0 + CANVAS, x0 : x0 + CANVAS]
        centre = (BIG - 1) / 2  # the digit's centre on the big canvas
        shift[i] = (centre - x0 - (CANVAS - 1) / 2, centre - y0 - (CANVAS - 1) / 2)
    return {"images": out, "angle": angle, "scale": scl, "shift": shift}


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--out", default="results/robustness/external/rts_anywhere.npz", help="the .npz to write")
    ap.add_argument("--data-root", default=os.environ.get("STN_DATA_ROOT", "./data"), help="MNIST root (torchvision layout)")
    ap.add_argument("--seed", type=whole, default=2024, help="seed of every draw")
    ap.add_argument("--limit", type=whole, default=0, help="first N test digits only (0: all 10,000)")
    a = ap.parse_args(argv)
    out = Path(a.out)
    if not writable(out.parent, "pass --out in a writable folder"):
        return 2
    loaded = load_mnist(a.data_root, a.limit)
    if loaded is None:
        return 2
    images, labels, _ = loaded
    arrays = make(images, a.seed)
    radius = np.hypot(*arrays["shift"].T)
    readme = "\n".join([
        f"# rts-anywhere: {len(labels):,} RTS test digits from an independent generator", "",
        "Rotation uniform in ±45° (torchvision's affine sign: positive turns clockwise on screen), scale uniform in 0.7–1.2, both about the "
        "digit's centre, bilinear (torchvision.transforms.v2.functional.affine on a 96x96 canvas); then a 42x42 window "
        "at a uniform integer position among those that keep every inked pixel on it (stn-lab's own rts keeps the "
        "whole scaled 28-pixel box on the canvas instead).",
        f"Digits: the first {len(labels):,} MNIST test digits in order (torchvision), labels theirs. Seed {a.seed} "
        "(numpy PCG64: per digit angle, scale, then window row and column).",
        f"Command: `python scripts/make_external_rts.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"Distance of the digit's centre from the canvas centre: median {np.median(radius):.2f} px, 95th percentile "
        f"{np.percentile(radius, 95):.2f} px, max {radius.max():.2f} px.",
        "Arrays: images uint8 (N, 42, 42), background 0; labels int64 (N,); angle (degrees), scale, shift (N, 2) "
        "(x right, y down, pixels of the digit's centre from the canvas centre).",
        f"sha256 of the images array: {hashlib.sha256(arrays['images'].tobytes()).hexdigest()}",
    ])
    if not save(out, readme, "pass --out in a writable folder", labels=labels, **arrays):
        return 2
    print(readme)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
