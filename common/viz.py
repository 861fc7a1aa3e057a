"""Figures: inputs beside what the transformer made of them."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from einops import rearrange  # noqa: E402


def _mosaic(imgs: torch.Tensor, cols: int) -> torch.Tensor:
    """(N, 1, H, W) in [0, 1] -> one (rows*H, cols*W) image with a 1-pixel grey frame per tile."""
    n = imgs.shape[0]
    rows = -(-n // cols)
    pad = torch.full((rows * cols - n, *imgs.shape[1:]), 0.0)
    tiles = torch.nn.functional.pad(torch.cat([imgs.cpu().float(), pad]), (1, 1, 1, 1), value=0.5)
    return rearrange(tiles, "(r c) 1 h w -> (r h) (c w)", c=cols)


@torch.no_grad()
def draw_stn(model, images: torch.Tensor, labels: torch.Tensor, path: str | Path, *, title: str = "") -> Path:
    """Write a figure: a batch of inputs beside the transformer's output (true greyscale, 0 black,
    1 white), with the true and predicted labels; TPS control points and iterative steps drawn
    where the head has them. Written atomically."""
    model.eval()
    x = images.float()
    warp = model.transformer(x)
    pred = model(x).argmax(1).cpu()
    cols = 4 if x.shape[0] <= 16 else 8
    out = warp.image[: x.shape[0]]  # a probabilistic head's first draw
    panels = [("input", x)] + [(f"step {i + 1}", s) for i, s in enumerate(warp.steps[:-1])] + [("transformed", out)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.6), squeeze=False)
    h, w = x.shape[-2:]
    oh, ow = out.shape[-2:]
    for ax, (name, imgs) in zip(axes[0], panels):
        ax.imshow(_mosaic(imgs, cols), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(name)
        ax.axis("off")
    # labels on the output panel: true / predicted
    for i in range(x.shape[0]):
        r, c = divmod(i, cols)
        ok = int(pred[i]) == int(labels[i])
        axes[0][-1].text(c * (ow + 2) + 2, r * (oh + 2) + 2, f"{int(labels[i])}/{int(pred[i])}", color="lime" if ok else "red", fontsize=7, va="top")
    if warp.points is not None:  # TPS control points where each output control point samples the input
        pts = warp.points.cpu()
        for i in range(x.shape[0]):
            r, c = divmod(i, cols)
            px = (pts[i, :, 0] + 1) / 2 * (w - 1) + c * (w + 2) + 1
            py = (pts[i, :, 1] + 1) / 2 * (h - 1) + r * (h + 2) + 1
            axes[0][0].scatter(px, py, s=3, c="deepskyblue")
    fig.suptitle(f"{title}   (labels: true/predicted)" if title else "labels: true/predicted")
    fig.tight_layout(rect=(0, 0, 1, 0.93))  # room for the title above the panel titles
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return path
