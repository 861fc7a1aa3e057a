"""Test sets of the STN paper's protocols made without stn-lab's generator, to check study 3's
numbers on images we did not make (the issue's re-check, done before anyone else does it).

    python scripts/make_external_sets.py                       # all five, 10,000 digits each
    python scripts/make_external_sets.py --sets projective,elastic --limit 2000 --out-dir /tmp/ext

Same protocol as ``common/data.py`` (Jaderberg et al. 2015, appendix A; our P sigma from IC-STN),
other tools and other draws; it imports nothing from stn-lab. Where the two differ, by design:
RTS offsets are whole pixels here, continuous there.

- rotated: torchvision ``v2.functional.rotate``, angle uniform in ±90°, bilinear.
- rts: ``v2.functional.affine`` (rotation ±45°, scale 0.7–1.2 about the digit's centre) on a
  96x96 canvas, then a 42x42 window at a uniform integer position that keeps the scaled 28-pixel
  box on the canvas (our rule; ``make_external_rts.py`` is the variant that lets digits reach further).
- projective: ``v2.functional.perspective``: each corner of the output reads the input at that
  corner moved by N(0, sigma²) pixels per axis, sigma = 12.5% of the side between the outer pixel
  centres (3.375 px), clipped at 2 sigma.
- elastic: a thin-plate spline solved with numpy: a 4x4 grid of control points spanning the
  image, each moved by N(0, 1.5²) pixels per axis; sampled with torch's ``grid_sample``.
- cluttered: numpy only: the digit pasted at a uniform integer position on a 60x60 canvas, then 6
  pieces of 6x6 cut at uniform positions at least 4 px inside uniformly drawn MNIST *training*
  digits, pasted at uniform positions, combined by pixel-wise max. (Cut from anywhere on the
  digit instead, the clutter holds 40% less ink and every model reads it better; the paper does
  not say which: docs/study3.md.)

Each set is ``OUT/NAME.npz`` (``images`` uint8 (N, S, S), ``labels`` int64 (N,), ``readme``) and
``OUT/NAME.npz.md``, readable by ``evaluate.py --test-file NAME-ext=OUT/NAME.npz``.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchvision
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF
from tqdm import tqdm

DIGIT = 28
BILINEAR = InterpolationMode.BILINEAR
# the protocols' numbers, written here again (tests compare them with common/data.py's)
ROT_MAX, RTS_MAX, RTS_SCALE = 90.0, 45.0, (0.7, 1.2)
P_SIGMA_PX, P_CLIP = 0.125 * (DIGIT - 1), 2.0  # 12.5% of the side between the outer pixel centres
E_GRID, E_SIGMA_PX = 4, 1.5
TC_SIZE, TC_PIECES, TC_PIECE, TC_MARGIN = 60, 6, 6, 4  # pieces cut at least TC_MARGIN px inside the digit's 28x28


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x * 255).round().clamp(0, 255).to(torch.uint8).numpy()


def rotated(images: np.ndarray, rng: np.random.Generator, train: np.ndarray) -> tuple[np.ndarray, str]:
    angle = rng.uniform(-ROT_MAX, ROT_MAX, len(images))
    out = np.stack([_u8(TF.rotate(torch.from_numpy(im)[None].float() / 255, float(a), interpolation=BILINEAR)[0])
                    for im, a in zip(tqdm(images, desc="rotated", unit="digit", mininterval=2), angle)])
    return out, "angle uniform in ±90° about the image centre (torchvision rotate, bilinear)"


def rts(images: np.ndarray, rng: np.random.Generator, train: np.ndarray) -> tuple[np.ndarray, str]:
    canvas, big = 42, 96
    off = (big - DIGIT) // 2
    out = np.zeros((len(images), canvas, canvas), np.uint8)
    for i, im in enumerate(tqdm(images, desc="rts", unit="digit", mininterval=2)):
        angle, scale = rng.uniform(-RTS_MAX, RTS_MAX), rng.uniform(*RTS_SCALE)
        room = (canvas - DIGIT * scale) / 2  # how far the scaled box's centre may move and stay on the canvas
        dx, dy = rng.integers(-int(room), int(room) + 1, 2)
        x = torch.zeros(1, big, big)
        x[0, off : off + DIGIT, off : off + DIGIT] = torch.from_numpy(im).float() / 255
        x = TF.affine(x, angle=float(angle), translate=[0, 0], scale=float(scale), shear=[0.0, 0.0], interpolation=BILINEAR)
        top = (big - canvas) // 2
        out[i] = _u8(x[0, top - dy : top - dy + canvas, top - dx : top - dx + canvas])
    return out, ("rotation ±45° and scale 0.7–1.2 about the digit's centre (torchvision affine, bilinear), then a 42x42 "
                 "window at a uniform integer offset of at most floor((42 - 28 x scale) / 2) px from the digit's centre per axis")


def projective(images: np.ndarray, rng: np.random.Generator, train: np.ndarray) -> tuple[np.ndarray, str]:
    sigma = P_SIGMA_PX
    corners = [[0, 0], [DIGIT - 1, 0], [DIGIT - 1, DIGIT - 1], [0, DIGIT - 1]]
    out = np.zeros_like(images)
    for i, im in enumerate(tqdm(images, desc="projective", unit="digit", mininterval=2)):
        moved = (np.array(corners) + np.clip(rng.normal(0, sigma, (4, 2)), -P_CLIP * sigma, P_CLIP * sigma)).tolist()
        # torchvision moves startpoints to endpoints: the output's corner shows the input at the moved corner
        out[i] = _u8(TF.perspective(torch.from_numpy(im)[None].float() / 255, moved, corners, interpolation=BILINEAR)[0])
    return out, (f"each corner of the output reads the input at the corner moved by N(0, {sigma:g}²) px per axis, "
                 f"clipped at {P_CLIP:g}σ (torchvision perspective, bilinear)")


def _tps_sampling_map(ctrl: np.ndarray, moved: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """The thin-plate spline T with T(ctrl_i) = moved_i (Bookstein 1989; U(r) = r² log r²), at the
    (M, 2) points ``grid``: solves [[K, P], [Pᵀ, 0]] [w; a] = [moved; 0] with numpy."""
    def u(d2):
        return np.where(d2 > 0, d2 * np.log(np.maximum(d2, 1e-300)), 0.0)
    k = len(ctrl)
    p = np.hstack([np.ones((k, 1)), ctrl])
    lhs = np.zeros((k + 3, k + 3))
    lhs[:k, :k] = u(((ctrl[:, None] - ctrl[None]) ** 2).sum(-1))
    lhs[:k, k:], lhs[k:, :k] = p, p.T
    coef = np.linalg.solve(lhs, np.vstack([moved, np.zeros((3, 2))]))
    return u(((grid[:, None] - ctrl[None]) ** 2).sum(-1)) @ coef[:k] + np.hstack([np.ones((len(grid), 1)), grid]) @ coef[k:]


def elastic(images: np.ndarray, rng: np.random.Generator, train: np.ndarray) -> tuple[np.ndarray, str]:
    g = np.linspace(-1, 1, E_GRID)
    ctrl = np.stack(np.meshgrid(g, g, indexing="xy"), -1).reshape(E_GRID**2, 2)  # x, y in [-1, 1], corners on pixel centres
    px = 2 / (DIGIT - 1)
    t = np.linspace(-1, 1, DIGIT)
    grid = np.stack(np.meshgrid(t, t, indexing="xy"), -1).reshape(-1, 2)
    out = np.zeros_like(images)
    for i, im in enumerate(tqdm(images, desc="elastic", unit="digit", mininterval=2)):
        where = _tps_sampling_map(ctrl, ctrl + rng.normal(0, E_SIGMA_PX, ctrl.shape) * px, grid)
        g_t = torch.from_numpy(where).float().reshape(1, DIGIT, DIGIT, 2)
        x = torch.from_numpy(im).float()[None, None] / 255
        out[i] = _u8(torch.nn.functional.grid_sample(x, g_t, mode="bilinear", padding_mode="zeros", align_corners=True)[0, 0])
    return out, ("16 control points on a 4x4 grid spanning the image, each moved by N(0, 1.5²) px per axis; the output pixel "
                 "at a control point reads the input at its moved point (thin-plate spline solved with numpy, bilinear)")


def cluttered(images: np.ndarray, rng: np.random.Generator, train: np.ndarray) -> tuple[np.ndarray, str]:
    canvas, piece = TC_SIZE, TC_PIECE
    out = np.zeros((len(images), canvas, canvas), np.uint8)
    for i, im in enumerate(tqdm(images, desc="cluttered", unit="digit", mininterval=2)):
        for _ in range(TC_PIECES):
            src = train[rng.integers(len(train))]
            r, c = rng.integers(TC_MARGIN, DIGIT - piece - TC_MARGIN + 1, 2)
            y, x = rng.integers(0, canvas - piece + 1, 2)
            np.maximum(out[i, y : y + piece, x : x + piece], src[r : r + piece, c : c + piece], out=out[i, y : y + piece, x : x + piece])
        y, x = rng.integers(0, canvas - DIGIT + 1, 2)
        np.maximum(out[i, y : y + DIGIT, x : x + DIGIT], im, out=out[i, y : y + DIGIT, x : x + DIGIT])
    return out, (f"digit pasted at a uniform integer position on a {canvas}x{canvas} canvas; {TC_PIECES} pieces of {piece}x{piece} "
                 f"cut at uniform positions at least {TC_MARGIN} px inside uniformly drawn MNIST training digits (where the strokes "
                 "are), pasted at uniform positions; pixel-wise max (numpy)")


def load_mnist(root: str, limit: int = 0, with_train: bool = False):
    """MNIST test digits (uint8 (N, 28, 28), int64 labels; the first ``limit`` if > 0) and, if
    asked, the training images, through torchvision; prints one error line and returns None when
    there is no MNIST under ``root`` and no download."""
    try:
        test = torchvision.datasets.MNIST(root, train=False, download=True)
        train = torchvision.datasets.MNIST(root, train=True, download=True).data.numpy() if with_train else None
    except Exception as err:
        print(f"error: no MNIST under {root} and no download ({type(err).__name__}); point --data-root "
              "(or STN_DATA_ROOT) at the folder holding MNIST/, or run where torchvision can download it", file=sys.stderr)
        return None
    images, labels = test.data.numpy(), test.targets.numpy().astype(np.int64)
    if limit:
        images, labels = images[:limit], labels[:limit]
    return images, labels, train


SETS = {"rotated": rotated, "rts": rts, "projective": projective, "elastic": elastic, "cluttered": cluttered}


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line and exit status 2, as in the rest of stn-lab's commands
    (this file imports nothing of stn-lab, so it has its own)."""

    def error(self, message):
        self.exit(2, f"error: {message} (see --help)\n")


def whole(text: str) -> int:
    """An argparse ``type``: a whole number >= 0 (a seed, a count); else the parser's one-line error."""
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one >= 0") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} is out of range: it must be >= 0")
    return v


def writable(folder: Path, fix: str) -> bool:
    """Make ``folder`` and write a scratch file in it, before minutes of drawing; on an OSError print
    one line ending in ``fix`` and return False."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as err:
        print(f"error: cannot write {folder} ({err.strerror}); {fix}", file=sys.stderr)
        return False
    return True


def save(path: Path, readme: str, fix: str, **arrays) -> bool:
    """Write ``arrays`` and ``readme`` to ``path`` (.npz; whole or not at all) and the readme beside it
    as ``path.md``. On an OSError print one line ending in ``fix`` and return False."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    try:
        np.savez_compressed(tmp, readme=np.array(readme), **arrays)
        os.replace(tmp, path)
        path.with_name(path.name + ".md").write_text(readme + "\n")
    except OSError as err:
        tmp.unlink(missing_ok=True)
        print(f"error: cannot write {path} ({err.strerror}); {fix}", file=sys.stderr)
        return False
    return True


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    ap.add_argument("--out-dir", default=argparse.SUPPRESS, help="folder for NAME.npz and NAME.npz.md (default results/study3/external; required with --limit)")
    ap.add_argument("--data-root", default=os.environ.get("STN_DATA_ROOT", "./data"), help="MNIST root (torchvision layout)")
    ap.add_argument("--seed", type=whole, default=2611, help="seed of every draw (numpy PCG64, one stream per set)")
    ap.add_argument("--limit", type=whole, default=0, help="first N test digits only (0: all 10,000)")
    a = ap.parse_args(argv)
    names = [s for s in a.sets.split(",") if s]
    bad = [s for s in names if s not in SETS]
    if bad or not names:
        print(f"error: unknown set {', '.join(bad) or '(none given)'}; choose from {', '.join(SETS)}", file=sys.stderr)
        return 2
    a.out_dir = getattr(a, "out_dir", None)  # not given: no attribute (SUPPRESS), so --help shows the default in words once
    if a.limit and a.out_dir is None:
        print("error: --limit makes a smaller set; pass --out-dir for it, so the full sets are not overwritten", file=sys.stderr)
        return 2
    out_dir = Path(a.out_dir or "results/study3/external")
    if not writable(out_dir, "pass --out-dir pointing at a writable folder"):
        return 2
    loaded = load_mnist(a.data_root, a.limit, with_train="cluttered" in names)
    if loaded is None:
        return 2
    images, labels, train = loaded
    for k, name in enumerate(names):
        rng = np.random.default_rng([a.seed, list(SETS).index(name)])
        torch.manual_seed(a.seed)  # nothing here draws from torch; fixed in case a library does
        arr, how = SETS[name](images, rng, train)
        readme = "\n".join([
            f"# {name}-ext: {len(labels):,} test digits from an independent generator", "",
            f"{how}.", f"Digits: the first {len(labels):,} MNIST test digits in order (torchvision), labels theirs. "
            f"Seed {a.seed} (numpy PCG64, stream [{a.seed}, {list(SETS).index(name)}]).",
            f"Command: `python scripts/make_external_sets.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
            f"Arrays: images uint8 {tuple(arr.shape)}, background 0; labels int64 ({len(labels)},).",
            f"sha256 of the images array: {hashlib.sha256(arr.tobytes()).hexdigest()}",
        ])
        path = out_dir / f"{name}.npz"
        if not save(path, readme, "pass --out-dir pointing at a writable folder", images=arr, labels=labels):
            return 2
        print(f"wrote {path}: {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
