"""MNIST and its distorted variants, generated in batches on the training device.

Every distortion maps a batch of clean 28x28 digits in [0, 1] to a batch of distorted images
plus the ground truth that made them: ``matrix`` (B, 3, 3), the sampling matrix from the
distorted canvas to the clean digit (normalised coordinates, see ``common.geometry``), and for
``elastic`` also ``tps`` (B, 16, 2), the control-point displacements applied before it.
Test sets are generated once with a fixed seed and cached on disk under a name that hashes the
generator's parameters, so a changed generator never reuses a stale file.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from einops import rearrange
from torch import Tensor

from common import geometry as geo
from common.config import validation_set_name
from common.errors import UsageError

GENERATOR_VERSION = 1  # bump when a distortion's code changes meaning
TEST_SEED = 20151506  # the STN paper's arXiv number; fixes every test set
VAL_SEED = 1506  # fixes every validation set (held-out training digits, see ``validation_split``)
DEFAULT_DATA_ROOT = "./data"
DEFAULT_CACHE_DIR = "./cache"

# name -> parameters of the generator (these, with GENERATOR_VERSION, name the cache file)
DATASETS: dict[str, dict] = {
    "mnist": dict(size=28),
    "rotated": dict(size=28, max_angle=90.0),  # R
    "rts": dict(size=42, max_angle=45.0, scale=(0.7, 1.2)),  # RTS
    # P: each corner moves by N(0, sigma^2) in normalised units (sigma 0.25 = 12.5% of the side,
    # IC-STN's value), clipped at 2 sigma so the quadrilateral never folds
    "projective": dict(size=28, sigma=0.25, clip=2.0),
    "elastic": dict(size=28, grid=4, sigma_px=1.5),  # E: 4x4 TPS control points, sigma 1.5 px
    "cluttered": dict(size=60, pieces=6, piece=6),  # TC: clutter cut from *training* digits
}


def image_size(dataset: str) -> int:
    return DATASETS[dataset]["size"]


# --------------------------------------------------------------------------- raw MNIST
def resolve_data_root(flag: str | None) -> Path:
    return Path(flag or os.environ.get("STN_DATA_ROOT") or DEFAULT_DATA_ROOT)


def resolve_cache_dir(flag: str | None) -> Path:
    return Path(flag or os.environ.get("STN_CACHE_DIR") or DEFAULT_CACHE_DIR)


def load_mnist(root: Path, train: bool) -> tuple[Tensor, Tensor]:
    """``(N, 28, 28)`` uint8 images and ``(N,)`` int64 labels in 0..9, through torchvision. Any
    N >= 1 is taken (MNIST has 60,000 / 10,000; the tests use a few hundred). Raises UsageError
    for missing, unreadable or misshapen files."""
    import torchvision

    try:
        ds = torchvision.datasets.MNIST(root=str(root), train=train, download=True)
        images, labels = ds.data, ds.targets
    except Exception as err:  # torchvision raises several kinds for missing/corrupt files
        raise UsageError(
            f"could not load MNIST from {Path(root).resolve()}/MNIST/raw ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else 'no detail'}); with no network, point "
            "--data-root (or STN_DATA_ROOT) at a folder holding MNIST/raw/*-ubyte"
        ) from None
    n = images.shape[0] if images.ndim else 0
    if (n < 1 or images.shape != (n, 28, 28) or labels.shape != (n,) or images.dtype != torch.uint8
            or int(labels.min()) < 0 or int(labels.max()) > 9):
        raise UsageError(
            f"MNIST under {Path(root).resolve()} is malformed (images {tuple(images.shape)} {images.dtype}, labels "
            f"{tuple(labels.shape)}); expected (N, 28, 28) uint8 and N labels 0..9: delete its MNIST folder and download it again"
        )
    return images, labels.long()


# --------------------------------------------------------------------------- distortions
def _uniform(gen: torch.Generator, n: int, lo: float, hi: float, device) -> Tensor:
    return torch.rand(n, generator=gen, device=device) * (hi - lo) + lo


def _digits(x: Tensor) -> Tensor:
    """uint8 (B, 28, 28) or float (B, 1, 28, 28) -> float (B, 1, 28, 28) in [0, 1]."""
    if x.dtype == torch.uint8:
        x = rearrange(x, "b h w -> b 1 h w").float().div_(255)
    return x


def distort(
    name: str, x: Tensor, gen: torch.Generator, clutter_source: Tensor | None = None
) -> tuple[Tensor, dict[str, Tensor]]:
    """Distort a batch of clean digits (uint8 ``(B, 28, 28)`` or float ``(B, 1, 28, 28)``).

    All randomness comes from ``gen``, which lives on ``x``'s device. ``clutter_source`` (uint8
    ``(N, 28, 28)``, training digits only) is needed by ``cluttered``.
    """
    p = DATASETS[name]
    x = _digits(x)
    b, dev, size = x.shape[0], x.device, p["size"]
    zero = torch.zeros(b, device=dev)
    if name == "mnist":
        return x, {"matrix": torch.eye(3, device=dev).expand(b, 3, 3).clone()}
    if name == "rotated":
        angle = torch.deg2rad(_uniform(gen, b, -p["max_angle"], p["max_angle"], dev))
        m = geo.similarity_pixels(angle, zero + 1, zero, zero, 28, size)
    elif name == "rts":
        angle = torch.deg2rad(_uniform(gen, b, -p["max_angle"], p["max_angle"], dev))
        scale = _uniform(gen, b, *p["scale"], dev)
        room = (size - 28 * scale) / 2  # keep the scaled digit's box on the canvas
        tx, ty = (torch.rand(2, b, generator=gen, device=dev) * 2 - 1) * room
        m = geo.similarity_pixels(angle, scale, tx, ty, 28, size)
    elif name == "projective":
        corners = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]], device=dev).expand(b, 4, 2)
        noise = torch.randn(b, 4, 2, generator=gen, device=dev) * p["sigma"]
        noise = noise.clamp(-p["clip"] * p["sigma"], p["clip"] * p["sigma"])
        import kornia

        m = kornia.geometry.transform.get_perspective_transform(corners, corners + noise)
    elif name == "elastic":
        k = p["grid"] ** 2
        delta = torch.randn(b, k, 2, generator=gen, device=dev) * (p["sigma_px"] * 2.0 / 27.0)
        img = geo.sample(x, geo.tps_grid(delta, size, size))
        return img, {"matrix": torch.eye(3, device=dev).expand(b, 3, 3).clone(), "tps": delta}
    elif name == "cluttered":
        room = (size - 28) // 2
        tx, ty = torch.randint(-room, room + 1, (2, b), generator=gen, device=dev).float()
        m = geo.similarity_pixels(zero, zero + 1, tx, ty, 28, size)
    else:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    img = geo.sample(x, geo.matrix_grid(m, size, size, affine=name != "projective"))
    if name == "cluttered":
        img = torch.maximum(img, _clutter(b, size, p["pieces"], p["piece"], clutter_source, gen))
    return img, {"matrix": m}


def _clutter(b: int, size: int, pieces: int, piece: int, source: Tensor, gen: torch.Generator) -> Tensor:
    """``(B, 1, size, size)`` canvases holding ``pieces`` random ``piece x piece`` crops of random
    source digits each, pasted at random places (overlaps keep the brighter pixel)."""
    if source is None:
        raise ValueError("cluttered needs clutter_source (training digits)")
    dev = source.device
    n = b * pieces
    src = torch.randint(0, source.shape[0], (n,), generator=gen, device=dev)
    # crop from the digit's central area, where the strokes are
    cy, cx = torch.randint(4, 28 - piece - 4 + 1, (2, n), generator=gen, device=dev)
    py, px = torch.randint(0, size - piece + 1, (2, n), generator=gen, device=dev)
    ar = torch.arange(piece, device=dev)
    rows, cols = (cy[:, None] + ar)[:, :, None], (cx[:, None] + ar)[:, None, :]
    crops = source[src[:, None, None], rows, cols].float().div_(255)  # (n, piece, piece)
    flat = (py[:, None] + ar)[:, :, None] * size + (px[:, None] + ar)[:, None, :]  # (n, piece, piece)
    flat = flat + (torch.arange(n, device=dev) // pieces)[:, None, None] * size * size
    canvas = torch.zeros(b * size * size, device=dev)
    canvas.scatter_reduce_(0, flat.flatten(), crops.flatten(), reduce="amax")
    return rearrange(canvas, "(b h w) -> b 1 h w", b=b, h=size)


def ground_truth_grid(gt: dict[str, Tensor], size: int) -> Tensor:
    """The sampling grid a distortion used: distorted = sample(clean, grid)."""
    if "tps" in gt:
        return geo.tps_grid(gt["tps"], size, size)
    return geo.matrix_grid(gt["matrix"], size, size)


# --------------------------------------------------------------------------- fixed test sets
@dataclass
class TestSet:
    name: str
    images: Tensor  # uint8 (N, 1, S, S)
    labels: Tensor  # int64 (N,)
    gt: dict[str, Tensor]

    def __len__(self) -> int:
        return self.labels.shape[0]

    def head(self, n: int) -> "TestSet":
        if not n or n >= len(self):
            return self
        return TestSet(self.name, self.images[:n], self.labels[:n], {k: v[:n] for k, v in self.gt.items()})

    def to(self, device) -> "TestSet":
        return TestSet(self.name, self.images.to(device), self.labels.to(device), {k: v.to(device) for k, v in self.gt.items()})


def cache_key(name: str) -> str:
    spec = json.dumps({"name": name, "params": DATASETS[name], "v": GENERATOR_VERSION, "seed": TEST_SEED}, sort_keys=True)
    return hashlib.sha1(spec.encode()).hexdigest()[:12]


def build_test_set(name: str, test_images: Tensor, test_labels: Tensor, train_images: Tensor, chunk: int = 2000,
                   *, seed: int = TEST_SEED, label: str | None = None) -> TestSet:
    """Generate a test set on the CPU from a fixed seed (deterministic across machines);
    ``label`` names it (default: the distortion's name)."""
    gen = torch.Generator().manual_seed(seed)
    outs, gts = [], []
    for i in range(0, test_images.shape[0], chunk):
        img, gt = distort(name, test_images[i : i + chunk], gen, clutter_source=train_images)
        outs.append(img.mul(255).round_().to(torch.uint8))
        gts.append(gt)
    gt = {k: torch.cat([g[k] for g in gts]) for k in gts[0]}
    return TestSet(label or name, torch.cat(outs), test_labels.clone(), gt)


def validation_split(name: str, images: Tensor, labels: Tensor, holdout: int) -> tuple[Tensor, Tensor, TestSet]:
    """Hold out the last ``holdout`` training digits: returns the remaining training images and
    labels, and a fixed validation set ``<name>-val`` made from the held-out digits with
    ``VAL_SEED`` (clutter cut from the remaining training digits only). Recipes are chosen on it,
    so the test sets stay untouched until the final runs."""
    n = images.shape[0] - holdout
    if n < 1:
        raise UsageError(f"--holdout={holdout} leaves no training digits (there are {images.shape[0]}); hold out fewer")
    val = build_test_set(name, images[n:], labels[n:], images[:n], seed=VAL_SEED, label=validation_set_name(name))
    return images[:n], labels[:n], val


def load_test_set(name: str, data_root: Path, cache_dir: Path, *, quiet: bool = False) -> TestSet:
    """The fixed test set ``name``: read from the cache, or generated once and cached."""
    if name not in DATASETS:
        raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    test_images, test_labels = load_mnist(data_root, train=False)
    if name == "mnist":
        return TestSet(name, rearrange(test_images, "b h w -> b 1 h w"), test_labels, {})
    path = Path(cache_dir) / f"{name}-test-{cache_key(name)}.pt"
    source = hashlib.sha1(test_images.numpy().tobytes()).hexdigest()[:16]  # the digits it is made of
    if path.exists():
        try:
            blob = torch.load(path, weights_only=True)
            if torch.equal(blob["labels"], test_labels) and blob.get("source", source) == source:
                return TestSet(name, blob["images"], blob["labels"], blob["gt"])
            print(f"warning: cached test set {path} was made from other MNIST files than {data_root}'s; regenerating it", file=sys.stderr)
        except Exception as err:
            print(f"warning: cached test set {path} is unreadable ({type(err).__name__}); regenerating it", file=sys.stderr)
    train_images, _ = load_mnist(data_root, train=True)
    ts = build_test_set(name, test_images, test_labels, train_images)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"images": ts.images, "labels": ts.labels, "gt": ts.gt, "source": source}, tmp)
        os.replace(tmp, path)  # atomic: a reader never sees half a file
        if not quiet:
            print(f"cached the {name} test set at {path}", file=sys.stderr)
    except OSError as err:
        print(f"warning: could not cache the {name} test set in {cache_dir} ({err.strerror}); using it uncached", file=sys.stderr)
    return ts


class TrainStream:
    """Shuffled training batches, distorted afresh each epoch on the training device.

    The whole training set lives on the device as uint8 (47 MB); a batch is an index, a cast
    and one batched distortion: no DataLoader, no worker processes, no PIL.
    """

    def __init__(self, dataset: str, images: Tensor, labels: Tensor, *, batch_size: int, seed: int, device):
        self.dataset, self.batch_size = dataset, batch_size
        self.images, self.labels = images.to(device), labels.to(device)
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.device = torch.device(device)

    def __len__(self) -> int:
        return math.ceil(self.labels.shape[0] / self.batch_size)

    def permutation(self) -> Tensor:
        return torch.randperm(self.labels.shape[0], generator=self.gen, device=self.device)

    def batches(self, perm: Tensor, start: int = 0):
        """``(index, (x, y, gt))`` for batches ``start..`` of the epoch ordered by ``perm``."""
        for i in range(start, len(self)):
            idx = perm[i * self.batch_size : (i + 1) * self.batch_size]
            x, gt = distort(self.dataset, self.images[idx], self.gen, clutter_source=self.images)
            yield i, (x, self.labels[idx], gt)

    def __iter__(self):
        for _, batch in self.batches(self.permutation()):
            yield batch

    def state(self) -> Tensor:
        return self.gen.get_state()

    def set_state(self, state: Tensor) -> None:
        self.gen.set_state(state)
