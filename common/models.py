"""Building blocks: CoordConv, the localisation net, the classifiers, and the STN classifier."""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor

from common.errors import UsageError

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def coord_channels(x: Tensor, with_r: bool = False) -> Tensor:
    """x and y channels spanning [-1, 1] (idx / (dim - 1) * 2 - 1), optionally r; made on
    ``x``'s device and in its dtype, shape ``(B, 2 or 3, H, W)``."""
    b, _, h, w = x.shape
    ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
    xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
    chans = [repeat(xs, "w -> h w", h=h), repeat(ys, "h -> h w", w=w)]
    if with_r:
        chans.append(torch.sqrt(chans[0] ** 2 + chans[1] ** 2))
    return repeat(torch.stack(chans), "c h w -> b c h w", b=b)


class AddCoords(nn.Module):
    """Appends coordinate channels; no parameters."""

    def __init__(self, with_r: bool = False):
        super().__init__()
        self.with_r = with_r

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, coord_channels(x, self.with_r)], dim=1)


class CoordConv2d(nn.Conv2d):
    """A Conv2d that sees 2 (or 3, with r) extra coordinate channels. It *is* the convolution:
    no second, unused conv is registered beside it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, with_r: bool = False, **kw):
        super().__init__(in_channels + 2 + int(with_r), out_channels, kernel_size, **kw)
        self.with_r = with_r

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(torch.cat([x, coord_channels(x, self.with_r)], dim=1))


def conv(cin: int, cout: int, k: int, *, coordconv: bool, with_r: bool = False) -> nn.Conv2d:
    return CoordConv2d(cin, cout, k, with_r=with_r) if coordconv else nn.Conv2d(cin, cout, k)


def conv_pad(cin: int, cout: int, k: int, pad: int, *, coordconv: bool, with_r: bool = False) -> nn.Conv2d:
    return CoordConv2d(cin, cout, k, with_r=with_r, padding=pad) if coordconv else nn.Conv2d(cin, cout, k, padding=pad)


def flat_features(net: nn.Module, in_shape: tuple[int, int, int]) -> int:
    with torch.no_grad():
        return net(torch.zeros(1, *in_shape)).numel()


class LocNet(nn.Module):
    """The PyTorch tutorial's localisation net (conv 8@7x7, pool, conv 10@5x5, pool, FC 32),
    sized to the input. ``coordconv`` swaps every Conv2d for CoordConv2d. Returns features;
    the head's last, identity-initialised layer lives in the shared transformer base."""

    def __init__(self, in_shape: tuple[int, int, int], *, coordconv: bool = False, with_r: bool = False, hidden: int = 32):
        super().__init__()
        c = in_shape[0]
        self.features = nn.Sequential(
            conv(c, 8, 7, coordconv=coordconv, with_r=with_r), nn.MaxPool2d(2, 2), nn.ReLU(True),
            conv(8, 10, 5, coordconv=coordconv, with_r=with_r), nn.MaxPool2d(2, 2), nn.ReLU(True),
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(flat_features(self.features, in_shape), hidden), nn.ReLU(True))
        self.out_features = hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


class PaperLocNet(nn.Module):
    """The ST-CNN localisation net of Jaderberg et al. 2015 (arXiv 1506.02025, appendix A.4):
    the input downsampled 2x (average pooling), conv 20@5x5, max-pool 2, conv 20@5x5, FC 20,
    ReLU after each. Returns ``(B, 20)`` features; the head's identity-initialised regressor
    follows in the transformer base. Needs inputs of at least 28 pixels a side."""

    def __init__(self, in_shape: tuple[int, int, int], *, coordconv: bool = False, with_r: bool = False, hidden: int = 20):
        super().__init__()
        c = in_shape[0]
        self.features = nn.Sequential(
            nn.AvgPool2d(2),
            conv(c, 20, 5, coordconv=coordconv, with_r=with_r), nn.MaxPool2d(2), nn.ReLU(True),
            conv(20, 20, 5, coordconv=coordconv, with_r=with_r), nn.ReLU(True),
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(flat_features(self.features, in_shape), hidden), nn.ReLU(True))
        self.out_features = hidden

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


LOC_NETS = {"tutorial": LocNet, "paper": PaperLocNet}


def build_loc_net(name: str, in_shape, *, coordconv: bool = False, with_r: bool = False) -> nn.Module:
    """A localisation net by name (``LOC_NETS``); raises UsageError for an unknown name."""
    if name not in LOC_NETS:
        raise UsageError(f"unknown localisation net {name!r}; choose one of {', '.join(LOC_NETS)}")
    return LOC_NETS[name](tuple(in_shape), coordconv=coordconv, with_r=with_r)


class TutorialCNN(nn.Module):
    """The PyTorch STN tutorial's classifier (conv 10@5x5, conv 20@5x5 + Dropout2d, FC 50),
    sized to the input; normalises its [0, 1] input first (after any warp)."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int = 10, *, coordconv: bool = False, with_r: bool = False):
        super().__init__()
        c = in_shape[0]
        self.features = nn.Sequential(
            conv(c, 10, 5, coordconv=coordconv, with_r=with_r), nn.MaxPool2d(2), nn.ReLU(),
            conv(10, 20, 5, coordconv=coordconv, with_r=with_r), nn.Dropout2d(), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(flat_features(self.features, in_shape), 50), nn.ReLU(), nn.Dropout(), nn.Linear(50, num_classes)
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features((x - MNIST_MEAN) / MNIST_STD))


class PaperCNN(nn.Module):
    """The ST-CNN / CNN classifier of Jaderberg et al. 2015 (section 4.1): conv 9x9, max-pool 2,
    conv 7x7, max-pool 2, a linear softmax layer; ReLU after each pool. Widths 32 and 64 (the
    paper gives none; ~120k parameters at 28x28). The 7x7 conv is zero-padded (3) so that the
    21-pixel output of a 2x-downsampled RTS transformer still fits; the paper does not say how it
    fitted. Input ``(B, C, H, W)`` in [0, 1], H, W >= 21; returns logits ``(B, 10)``."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int = 10, *, coordconv: bool = False, with_r: bool = False,
                 widths: tuple[int, int] = (32, 64)):
        super().__init__()
        c, h, w = in_shape
        if min(h, w) < 21:
            raise UsageError(f"the paper classifier needs inputs of at least 21x21 pixels, got {h}x{w}; use --classifier tutorial")
        self.features = nn.Sequential(
            conv(c, widths[0], 9, coordconv=coordconv, with_r=with_r), nn.MaxPool2d(2), nn.ReLU(),
            conv_pad(widths[0], widths[1], 7, 3, coordconv=coordconv, with_r=with_r), nn.MaxPool2d(2), nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Linear(flat_features(self.features, in_shape), num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features((x - MNIST_MEAN) / MNIST_STD))


class TimmClassifier(nn.Module):
    """Any timm backbone by name, built for 1-channel input (or 1 + coordinates)."""

    def __init__(self, name: str, in_shape: tuple[int, int, int], num_classes: int = 10, *, coordconv: bool = False, with_r: bool = False):
        super().__init__()
        import timm

        if not timm.list_models(name):
            raise UsageError(f"unknown classifier {name!r}; use 'tutorial', 'paper', 'polar' or a timm model name (see timm.list_models())")
        self.coords = AddCoords(with_r) if coordconv else nn.Identity()
        chans = in_shape[0] + (2 + int(with_r) if coordconv else 0)
        self.net = timm.create_model(name, pretrained=False, in_chans=chans, num_classes=num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.coords((x - MNIST_MEAN) / MNIST_STD))


class PolarCNN(nn.Module):
    """A classifier for log-polar images ``(B, C, A, R)`` (rows: angle, columns: log-radius), as
    in Polar Transformer Networks (Esteves et al. 2018): convolutions padded circularly along the
    angle axis (zero along the radius), pooling along the radius only, then a max over the angle
    axis, so a circular shift of the rows (a rotation about the polar origin) leaves the logits
    unchanged. Convs 32@5x5, 64@5x5, 64@3x3, ReLU; returns logits ``(B, 10)``."""

    def __init__(self, in_shape: tuple[int, int, int], num_classes: int = 10, *, coordconv: bool = False, with_r: bool = False):
        super().__init__()
        if coordconv:
            raise UsageError("the polar classifier takes no CoordConv (coordinates would break its rotation invariance); drop --coordconv-classifier")
        c, a, r = in_shape
        self.convs = nn.ModuleList([nn.Conv2d(c, 32, 5), nn.Conv2d(32, 64, 5), nn.Conv2d(64, 64, 3)])
        self.pool_radius = [r >= 8, r >= 16, False]
        self.head = nn.Linear(64 * self._radius_out(r), num_classes)

    def _radius_out(self, r: int) -> int:
        for pool in self.pool_radius:
            r = r // 2 if pool else r
        return r

    def forward(self, x: Tensor) -> Tensor:
        x = (x - MNIST_MEAN) / MNIST_STD
        for conv, pool in zip(self.convs, self.pool_radius):
            k = conv.kernel_size[0] // 2
            x = F.pad(F.pad(x, (0, 0, k, k), mode="circular"), (k, k, 0, 0))  # angle: circular, radius: zero
            x = F.relu(conv(x))
            if pool:
                x = F.max_pool2d(x, (1, 2))
        return self.head(x.amax(2).flatten(1))  # max over the angle axis


CLASSIFIERS = {"tutorial": TutorialCNN, "paper": PaperCNN, "polar": PolarCNN}


def build_classifier(name: str, in_shape, *, coordconv: bool = False, with_r: bool = False) -> nn.Module:
    """``tutorial``, ``paper`` or any timm model name, built for ``in_shape`` (C, H, W)."""
    if name in CLASSIFIERS:
        return CLASSIFIERS[name](tuple(in_shape), coordconv=coordconv, with_r=with_r)
    return TimmClassifier(name, in_shape, coordconv=coordconv, with_r=with_r)


class STNClassifier(nn.Module):
    """A transformer head followed by a classifier; ``forward`` returns logits.

    ``downsample`` > 1 average-pools the transformer's output by that factor before the
    classifier (the paper's 2x for RTS and TC, arXiv 1506.02025 section 4.1), so the head can
    zoom in while the classifier sees a smaller image. The heads build their grids in float32
    whatever the autocast (``variants.Transformer``).
    """

    def __init__(self, transformer: nn.Module, classifier: nn.Module, downsample: int = 1):
        super().__init__()
        self.transformer, self.classifier, self.downsample = transformer, classifier, downsample

    def forward(self, x: Tensor, with_aux: bool = False):
        """Logits ``(B, 10)``; with ``with_aux`` also the head's auxiliary loss (a scalar or None).
        A head that returns K samples of each input gets its predictions averaged: the logits are
        then log of the mean probability over the K samples."""
        warp = self.transformer(x)
        img = F.avg_pool2d(warp.image, self.downsample) if self.downsample > 1 else warp.image
        logits = self.classifier(img)
        k = getattr(warp, "samples", 1)
        if k > 1:
            logp = rearrange(logits.float().log_softmax(-1), "(k b) c -> k b c", k=k)
            logits = torch.logsumexp(logp, 0) - math.log(k)
        return (logits, getattr(warp, "aux_loss", None)) if with_aux else logits


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
