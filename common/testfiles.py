"""Test sets from files: read someone else's distorted digits, write ours for someone else.

Formats read by :func:`read` (each checked before anything is evaluated):

* ``.npz`` holding ``images`` and ``labels`` (or ``x_test`` and ``y_test``);
* ``.npy`` pairs: ``test_images.npy`` beside ``test_labels.npy`` (any ``*images*.npy`` /
  ``*labels*.npy`` or ``x_*.npy`` / ``y_*.npy`` pair), named by either file or by their folder;
* ``.pt``: a dict with the same keys, or an ``(images, labels)`` pair, of tensors or arrays;
* MNIST-C's layout: a folder of corruption folders, each holding a ``.npy`` pair; read as a
  group, one test set per corruption, named ``GROUP/corruption``;
* a torchvision ``ImageFolder`` of greyscale PNGs: one folder per class, named ``0`` .. ``9``.

Images: uint8 in [0, 255] or float in [0, 1], shaped ``(N, H, W)``, ``(N, 1, H, W)`` or
``(N, H, W, 1)`` (MNIST-C's). Labels: ``(N,)`` integers in 0..9. Anything else is a
:class:`~common.errors.UsageError` whose one line names the file and what to change.

A set smaller than the model's input is padded onto its canvas (:func:`pad_to`, centred,
background 0); a larger one is refused: nothing is ever resized.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor

from common.data import TestSet
from common.errors import UsageError

KEYS = (("images", "labels"), ("x_test", "y_test"))  # accepted (images, labels) key pairs
NUM_CLASSES = 10
README_KEY = "readme"  # the header an exported .npz carries


# --------------------------------------------------------------------------- checking
def check(images, labels, where: str) -> tuple[Tensor, Tensor]:
    """Validate one set and bring it to the project's layout.

    Args:
        images: array or tensor, ``(N, H, W)``, ``(N, 1, H, W)`` or ``(N, H, W, 1)``; uint8 in
            [0, 255] or float in [0, 1].
        labels: array or tensor ``(N,)`` of integers in 0..9 (integral floats are accepted).
        where: the file's name, for the error message.
    Returns:
        images ``(N, 1, H, W)`` (uint8 kept as uint8, floats as float32) and labels int64 ``(N,)``.
    Raises:
        UsageError: wrong shape, dtype, value range, label range, or differing counts.
    """
    try:
        x, y = torch.as_tensor(np.asarray(images)), torch.as_tensor(np.asarray(labels))
    except (TypeError, ValueError, RuntimeError) as err:
        raise UsageError(f"{where}: images or labels are not numeric arrays ({type(err).__name__}); save them as numpy arrays or tensors") from None
    if x.ndim == 4 and x.shape[1] != 1 and x.shape[3] == 1:
        x = rearrange(x, "n h w 1 -> n 1 h w")
    elif x.ndim == 3:
        x = rearrange(x, "n h w -> n 1 h w")
    if x.ndim != 4 or x.shape[1] != 1 or min(x.shape[2:]) < 1:
        raise UsageError(f"{where}: images have shape {tuple(x.shape)}; expected greyscale (N, H, W), (N, 1, H, W) or (N, H, W, 1)")
    if x.shape[0] == 0:
        raise UsageError(f"{where}: holds no images")
    if x.dtype.is_floating_point:
        lo, hi = x.min().item(), x.max().item()
        if not (0.0 <= lo and hi <= 1.0):  # also catches NaN
            raise UsageError(f"{where}: float images must lie in [0, 1], these span [{lo:g}, {hi:g}]; divide by 255 or save them as uint8")
        x = x.float()
    elif x.dtype != torch.uint8:
        raise UsageError(f"{where}: images are {x.dtype}; save them as uint8 in [0, 255] or float in [0, 1]")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UsageError(f"{where}: labels have shape {tuple(y.shape)}; expected (N,) class indices")
    if y.dtype.is_floating_point:
        if not torch.equal(y, y.round()):
            raise UsageError(f"{where}: labels are fractional floats; expected integer class indices 0..9")
    elif y.dtype == torch.bool or y.dtype.is_complex:
        raise UsageError(f"{where}: labels are {y.dtype}; expected integer class indices 0..9")
    if x.shape[0] != y.shape[0]:
        raise UsageError(f"{where}: {x.shape[0]} images but {y.shape[0]} labels; the counts must match")
    if y.numel() and (y.min() < 0 or y.max() >= NUM_CLASSES):
        raise UsageError(f"{where}: labels span {int(y.min())}..{int(y.max())}; expected class indices 0..{NUM_CLASSES - 1}")
    return x, y.long()


# --------------------------------------------------------------------------- reading
def _keys(names, where: str = "") -> tuple[str, str]:
    for ki, kl in KEYS:
        if ki in names and kl in names:
            return ki, kl
    found = ", ".join(map(str, names)) or "nothing"
    raise UsageError(f"{where}: found {found}; expected arrays named images and labels (or x_test and y_test)")


def _pair_from(d: dict, where: str) -> tuple:
    ki, kl = _keys(d, where)
    return d[ki], d[kl]


def _npy_partner(path: Path) -> Path | None:
    """The labels file beside an images file (or the reverse)."""
    n = path.name
    for a, b in (("images", "labels"), ("labels", "images"), ("x_", "y_"), ("y_", "x_")):
        if a in n:
            return path.with_name(n.replace(a, b, 1))
    return None


def _npy_pair(folder: Path) -> tuple[Path, Path] | None:
    for ki, kl in (("test_images.npy", "test_labels.npy"), ("images.npy", "labels.npy"), ("x_test.npy", "y_test.npy")):
        if (folder / ki).is_file() and (folder / kl).is_file():
            return folder / ki, folder / kl
    return None


def _np_load(path: Path, where: str):
    try:
        return np.load(path, allow_pickle=False)
    except Exception as err:
        raise UsageError(f"cannot read {where} ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'no detail'}); is it a numpy file?") from None


def _read_npz(path: Path) -> tuple:
    z = _np_load(path, str(path))
    if not isinstance(z, np.lib.npyio.NpzFile):
        raise UsageError(f"cannot read {path} as .npz (it holds one array); rename it .npy, or save images and labels with numpy.savez")
    with z:
        ki, kl = _keys(z.files, str(path))
        try:
            return z[ki], z[kl]
        except Exception as err:  # a truncated or damaged member
            raise UsageError(f"cannot read {path} ({type(err).__name__}); the file is damaged, write it again") from None


def _read_npy(images: Path, labels: Path) -> tuple:
    for p in (images, labels):
        if not p.is_file():
            raise UsageError(f"{images}: no labels file {labels.name} beside it; keep the images and labels .npy files in one folder")
    return _np_load(images, str(images)), _np_load(labels, str(labels))


def _read_pt(path: Path) -> tuple:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UsageError(f"cannot read {path} ({type(err).__name__}); expected a torch.save of a dict with images and labels") from None
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return tuple(obj)
    if isinstance(obj, dict):
        return _pair_from(obj, str(path))
    raise UsageError(f"{path}: holds a {type(obj).__name__}; expected a dict with images and labels, or an (images, labels) pair")


def _read_image_folder(folder: Path) -> tuple:
    """A torchvision ImageFolder whose class folders are named by the digit they hold."""
    import torchvision
    from torchvision.io import ImageReadMode, decode_image

    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    bad = [c for c in classes if c not in {str(i) for i in range(NUM_CLASSES)}]
    if bad:
        raise UsageError(f"{folder}: class folders must be named 0..9 by the digit they hold; found {', '.join(bad[:5])}")

    def loader(p: str) -> Tensor:
        try:
            return decode_image(p, mode=ImageReadMode.GRAY)
        except Exception as err:
            raise UsageError(f"cannot read {p} as an image ({type(err).__name__}); remove it or save it as a PNG") from None

    try:
        ds = torchvision.datasets.ImageFolder(str(folder), loader=loader, is_valid_file=lambda f: f.lower().endswith(".png"))
    except FileNotFoundError:
        raise UsageError(f"{folder}: no .png files in its class folders 0..9") from None
    imgs = [ds.loader(p) for p, _ in ds.samples]
    shapes = {tuple(i.shape) for i in imgs}
    if len(shapes) > 1:
        raise UsageError(f"{folder}: images differ in size ({', '.join(str(s[1:]) for s in sorted(shapes)[:3])}); give every image one size")
    labels = torch.tensor([int(ds.classes[t]) for t in ds.targets])
    return torch.stack(imgs), labels


def _set(name: str, pair: tuple, where: str, gt: dict | None = None) -> TestSet:
    x, y = check(*pair, where)
    return TestSet(name, x, y, gt or {})


def read(path: str | Path, name: str | None = None) -> dict[str, TestSet]:
    """Read the test set (or group of sets) at ``path``.

    Args:
        path: a ``.npz``, ``.npy`` or ``.pt`` file, a folder holding a ``.npy`` pair, an MNIST-C
            folder of corruption folders, or an ImageFolder of PNGs (see the module docstring).
        name: what to call it in reports (default: the file or folder name without suffix);
            an MNIST-C group's sets are ``name/corruption``.
    Returns:
        name -> :class:`~common.data.TestSet` with images ``(N, 1, H, W)`` (uint8, or float32 in
        [0, 1]) and int64 labels ``(N,)``; ``gt`` is empty (an external set's distortion is unknown).
    Raises:
        UsageError: a missing, unreadable or malformed file (one line: which file, what to change).
    """
    p = Path(path)
    name = name or (p.stem if p.is_file() else p.name)
    if not p.exists():
        raise UsageError(f"no test file at {p}; pass an .npz, .npy, .pt file or a folder (see docs/robustness.md)")
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".npz":
            return {name: _set(name, _read_npz(p), str(p))}
        if suffix == ".npy":
            partner = _npy_partner(p)
            if partner is None:
                raise UsageError(f"{p}: cannot tell the images file from the labels file; name them *images*.npy and *labels*.npy (or x_*.npy and y_*.npy)")
            imgs, labels = (p, partner) if ("images" in p.name or p.name.startswith("x_")) else (partner, p)
            if name == p.stem:
                name = p.parent.name if imgs.stem in ("test_images", "images") else imgs.stem
            return {name: _set(name, _read_npy(imgs, labels), str(imgs))}
        if suffix in (".pt", ".pth"):
            return {name: _set(name, _read_pt(p), str(p))}
        raise UsageError(f"{p}: unknown test file type {suffix or '(none)'}; use .npz, .npy or .pt, or a folder")
    pair = _npy_pair(p)
    if pair is not None:
        return {name: _set(name, _read_npy(*pair), str(pair[0]))}
    subs = sorted(d for d in p.iterdir() if d.is_dir())
    groups = {d.name: _npy_pair(d) for d in subs}
    if subs and all(groups.values()):  # MNIST-C: one folder per corruption
        return {f"{name}/{c}": _set(f"{name}/{c}", _read_npy(*pr), str(pr[0])) for c, pr in groups.items()}
    if subs and any(groups.values()):
        missing = [c for c, pr in groups.items() if not pr]
        raise UsageError(f"{p}: looks like MNIST-C but {', '.join(missing[:3])} hold no test_images.npy/test_labels.npy pair")
    if subs:
        return {name: _set(name, _read_image_folder(p), str(p))}
    raise UsageError(f"{p}: an empty folder or one with no test set; see docs/robustness.md for the layouts read")


def check_fits(ts: TestSet, size: int) -> None:
    """Raise UsageError unless ``ts``'s images fit on a ``size x size`` canvas."""
    h, w = ts.images.shape[-2:]
    if h > size or w > size:
        raise UsageError(f"test set {ts.name!r} is {h}x{w} but the model takes {size}x{size}; larger images are not resized: crop them, or use a model trained on that size")


def pad_to(ts: TestSet, size: int) -> TestSet:
    """``ts`` on a ``size x size`` canvas: centred (an odd margin puts the extra pixel right and
    below), background 0, pixels unchanged. Ground truth is dropped: it describes the old canvas.

    Raises:
        UsageError: the images are larger than ``size`` on either side (never resized).
    """
    check_fits(ts, size)
    h, w = ts.images.shape[-2:]
    if (h, w) == (size, size):
        return ts
    top, left = (size - h) // 2, (size - w) // 2
    x = F.pad(ts.images, (left, size - w - left, top, size - h - top), value=0)
    return TestSet(ts.name, x, ts.labels, {})


# --------------------------------------------------------------------------- writing
def export(ts: TestSet, path: Path, header: str) -> Path:
    """Write ``ts`` as ``.npz`` (atomically) with a README-style ``header``.

    The file holds ``images`` uint8 ``(N, H, W)``, ``labels`` int64 ``(N,)``, every ground-truth
    tensor under its own name (``matrix`` ``(N, 3, 3)``, ``tps`` ``(N, 16, 2)``; float32) and
    ``readme`` (the header, a string); the header is also written beside it as ``PATH.md``.
    Returns the ``.npz`` path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"images": rearrange(ts.images, "n 1 h w -> n h w").numpy(), "labels": ts.labels.numpy().astype(np.int64)}
    arrays.update({k: v.float().numpy() for k, v in ts.gt.items()})
    text = header.rstrip() + f"\n\nsha256 of the images array: {hashlib.sha256(arrays['images'].tobytes()).hexdigest()}\n"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **arrays, **{README_KEY: np.array(text)})
    os.replace(tmp, path)
    md = path.with_name(path.name + ".md")
    tmp_md = md.with_name(f".{md.name}.{os.getpid()}.tmp")
    tmp_md.write_text(text)
    os.replace(tmp_md, md)
    return path
