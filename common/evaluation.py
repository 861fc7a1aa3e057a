"""Evaluate a trained model on every test set it can take, and the robustness metrics."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from common import data
from common import geometry as geo
from common import metrics as M

ANGLES = list(range(-180, 181, 15))
SCALES = [round(0.5 + 0.1 * i, 2) for i in range(11)]
CURVE_DIGITS = 1000  # the first N clean test digits, for curves and invariance


@torch.no_grad()
def logits_of(model, images: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size].to(device)
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        out.append(model(x).float().cpu())
    return torch.cat(out)


def place(digits: torch.Tensor, size: int, degrees: float = 0.0, scale: float = 1.0) -> torch.Tensor:
    """Clean 28x28 digits (uint8 (N, 28, 28)) rotated/scaled about their centre, centred on a
    ``size`` canvas, float (N, 1, size, size)."""
    x = digits.float().div(255).unsqueeze(1)
    n = x.shape[0]
    a = torch.full((n,), float(degrees))
    m = geo.similarity_pixels(torch.deg2rad(a), torch.full((n,), float(scale)), torch.zeros(n), torch.zeros(n), 28, size)
    return geo.sample(x, geo.matrix_grid(m, size, size, affine=True))


def test_set_metrics(model, ts: data.TestSet, batch_size: int, device) -> dict:
    logits = logits_of(model, ts.images, batch_size, device)
    out = M.error_rate(logits, ts.labels)
    out.update({"nll": M.nll(logits, ts.labels), "ece": M.ece(logits, ts.labels)})
    return out


def robustness(model, digits: torch.Tensor, labels: torch.Tensor, size: int, batch_size: int, device) -> dict:
    def acc(deg, sc):
        lg = logits_of(model, place(digits, size, deg, sc), batch_size, device)
        return (lg.argmax(1) == labels).double().mean().item()

    rot = [acc(a, 1.0) for a in ANGLES]
    scl = [acc(0.0, s) for s in SCALES]
    # invariance: 8 copies per digit, rotations in +-45 degrees and scales 0.8..1.2
    gen = torch.Generator().manual_seed(0)
    preds = []
    for _ in range(8):
        deg = float(torch.empty(1).uniform_(-45, 45, generator=gen))
        sc = float(torch.empty(1).uniform_(0.8, 1.2, generator=gen))
        preds.append(logits_of(model, place(digits, size, deg, sc), batch_size, device).argmax(1))
    return {
        "rotation_curve": {"degrees": ANGLES, "accuracy": rot}, "rotation_auc": M.curve_auc(ANGLES, rot),
        "scale_curve": {"scale": SCALES, "accuracy": scl}, "scale_auc": M.curve_auc(SCALES, scl),
        "invariance": M.agreement(torch.stack(preds, 1)),
    }


@torch.no_grad()
def recovery(model, ts: data.TestSet, clean: torch.Tensor, batch_size: int, device, n: int = 2000) -> dict | None:
    """How far the head's warp undoes the known distortion. Pixel error: mean squared difference
    between the rectified image and the clean digit centred on the canvas; the identity (no
    warp) is the floor to beat. Matrix error (matrix heads): distance of gt @ A from the
    centring map."""
    if "matrix" not in ts.gt:
        return None
    size = ts.images.shape[-1]
    n = min(n, len(ts))
    target_img = place(clean[:n], size)
    centre = geo.similarity_pixels(torch.zeros(1), torch.ones(1), torch.zeros(1), torch.zeros(1), 28, size)
    pix, floor, merr, mfloor = [], [], [], []
    for i in range(0, n, batch_size):
        x = ts.images[i : min(i + batch_size, n)].to(device).float().div(255)
        w = model.transformer(x)
        t = target_img[i : i + batch_size].to(device)
        pix.append((w.image - t).square().flatten(1).mean(1).cpu())
        floor.append((x - t).square().flatten(1).mean(1).cpu())
        if w.matrix is not None and "tps" not in ts.gt:
            gt = ts.gt["matrix"][i : i + batch_size].to(device)
            c = centre.to(device).expand_as(gt)
            merr.append(M.matrix_error(w.matrix.to(gt.dtype), gt, c).cpu())
            mfloor.append(M.matrix_error(torch.eye(3, device=device).expand_as(gt), gt, c).cpu())
    out = {"pixel_mse": torch.cat(pix).mean().item(), "pixel_mse_identity": torch.cat(floor).mean().item()}
    if merr:
        out.update({"matrix_error": torch.cat(merr).mean().item(), "matrix_error_identity": torch.cat(mfloor).mean().item()})
    return out


def flops_per_image(model, shape, device) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(torch.rand(1, *shape, device=device))
    return int(fc.get_total_flops())


def throughput(model, shape, device, batch: int = 128, steps: int = 5) -> dict:
    """Rough train and inference images/s on random data (after one warm-up step)."""
    x = torch.rand(batch, *shape, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=0.0)  # lr 0: measure the step, change nothing

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    model.train()
    for k in range(steps + 1):
        if k == 1:
            sync()
            t0 = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    sync()
    train = batch * steps / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        model(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            model(x)
        sync()
        infer = batch * steps / (time.perf_counter() - t0)
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)
    return {"train_images_per_s": train, "inference_images_per_s": infer}


def compatible_sets(size: int) -> list[str]:
    return [n for n in data.DATASETS if data.image_size(n) == size]


def evaluate_model(model, cfg, device, *, sets: list[str], batch_size: int = 1000, test_limit: int = 0, curves: bool = True) -> dict:
    root, cache = data.resolve_data_root(cfg.get("data_root")), data.resolve_cache_dir(cfg.get("cache_dir"))
    size = data.image_size(cfg["dataset"])
    clean_x, clean_y = data.load_mnist(root, train=False)
    report = {"variant": cfg["variant"], "dataset": cfg["dataset"], "coordconv": cfg["coordconv"], "sets": {}}
    for name in sets:
        ts = data.load_test_set(name, root, cache, quiet=True).head(test_limit)
        row = test_set_metrics(model, ts, batch_size, device)
        rec = recovery(model, ts, clean_x, batch_size, device) if name != "mnist" else None
        if rec:
            row["recovery"] = rec
        report["sets"][name] = row
    if curves:
        k = min(CURVE_DIGITS, test_limit or CURVE_DIGITS)
        report["robustness"] = robustness(model, clean_x[:k], clean_y[:k], size, batch_size, device)
    shape = (1, size, size)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    report["cost"] = {"params": n_params, "flops_per_image": flops_per_image(model, shape, device), **throughput(model, shape, device)}
    return report


# --------------------------------------------------------------------------- writing
def to_markdown(report: dict) -> str:
    lines = [f"### {report['variant']}{' + CoordConv' if report['coordconv'] else ''}, trained on {report['dataset']}", "",
             "| test set | accuracy | error % (95% CI) | NLL | ECE | pixel MSE (identity) | matrix error (identity) |",
             "|---|---|---|---|---|---|---|"]
    for name, r in report["sets"].items():
        lo, hi = r["error_ci95"]
        rec = r.get("recovery") or {}
        pix = f"{rec['pixel_mse']:.4f} ({rec['pixel_mse_identity']:.4f})" if rec else "–"
        mat = f"{rec['matrix_error']:.3f} ({rec['matrix_error_identity']:.3f})" if "matrix_error" in rec else "–"
        lines.append(f"| {name} | {r['correct']}/{r['n']} | {100 * r['error']:.2f} ({100 * lo:.2f}–{100 * hi:.2f}) | {r['nll']:.4f} | {r['ece']:.4f} | {pix} | {mat} |")
    if "robustness" in report:
        rb = report["robustness"]
        lines += ["", f"rotation AUC {rb['rotation_auc']:.4f} · scale AUC {rb['scale_auc']:.4f} · invariance {rb['invariance']:.4f}"]
    c = report["cost"]
    lines += ["", f"cost: {c['params']:,} parameters · {c['flops_per_image'] / 1e6:.2f} MFLOP/image (forward) · "
              f"train {c['train_images_per_s']:.0f} img/s · inference {c['inference_images_per_s']:.0f} img/s"]
    return "\n".join(lines) + "\n"


def plot_curves(report: dict, path: Path) -> Path | None:
    if "robustness" not in report:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rb = report["robustness"]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    a.plot(rb["rotation_curve"]["degrees"], rb["rotation_curve"]["accuracy"], marker="o", ms=3)
    a.set(xlabel="rotation of the test digit (degrees)", ylabel="accuracy", ylim=(0, 1.02), title=f"rotation (AUC {rb['rotation_auc']:.3f})")
    b.plot(rb["scale_curve"]["scale"], rb["scale_curve"]["accuracy"], marker="o", ms=3)
    b.set(xlabel="scale of the test digit", ylim=(0, 1.02), title=f"scale (AUC {rb['scale_auc']:.3f})")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    fig.suptitle(f"{report['variant']}{' + CoordConv' if report['coordconv'] else ''} trained on {report['dataset']}")
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_report(report: dict, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "eval.json", "md": out_dir / "eval.md", "png": out_dir / "robustness.png"}
    for key, text in (("json", json.dumps(report, indent=2)), ("md", to_markdown(report))):
        tmp = paths[key].with_name(f".{paths[key].name}.tmp")
        tmp.write_text(text)
        os.replace(tmp, paths[key])
    if plot_curves(report, paths["png"]) is None:
        paths.pop("png")
    return paths
