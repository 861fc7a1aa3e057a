"""Evaluate a trained model on every test set it can take, and the robustness metrics.

Robustness curves apply one nuisance at a time to clean test digits centred on the model's
canvas (the project's geometry convention, ``common.geometry``): rotation in degrees, scale as a
factor, and translation as the distance in pixels of the digit's centre from the canvas centre,
each digit moved in its own fixed random direction. Each curve has an area under it normalised
by its x-range (``metrics.curve_auc``): 1.0 means right everywhere on the curve.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from common import data
from common import geometry as geo
from common import metrics as M
from common import testfiles

ANGLES = list(range(-180, 181, 15))
SCALES = [round(0.5 + 0.1 * i, 2) for i in range(11)]
CURVE_DIGITS = 1000  # the first N clean test digits, for curves and invariance
SHIFT_STEPS = 12  # the translation curve: 13 distances from 0 to half the canvas side


def translations(size: int) -> list[float]:
    """Distances (pixels) of the translation curve on a ``size`` canvas: 0 to ``size / 2``, where
    the digit's centre reaches the canvas edge, far past any training range."""
    return [round(size / 2 * i / SHIFT_STEPS, 3) for i in range(SHIFT_STEPS + 1)]


def training_shift(dataset: str) -> float:
    """How far (pixels, per axis) the training distortion of ``dataset`` moves a digit of scale 1
    from the canvas centre: the end of the training range on the translation curve."""
    if dataset in ("rts", "cluttered"):  # both keep the digit's 28-pixel box on the canvas
        return (data.image_size(dataset) - 28) / 2
    return 0.0


@torch.no_grad()
def logits_of(model, images: torch.Tensor, batch_size: int, device) -> torch.Tensor:
    model.eval()
    out = []
    for i in range(0, images.shape[0], batch_size):
        x = images[i : i + batch_size].to(device)
        x = x.float().div_(255) if x.dtype == torch.uint8 else x
        out.append(model(x).float().cpu())
    return torch.cat(out)


def place(digits: torch.Tensor, size: int, degrees: float = 0.0, scale: float = 1.0, shift: torch.Tensor | None = None) -> torch.Tensor:
    """Clean 28x28 digits (uint8 (N, 28, 28)) rotated/scaled about their centre, centred on a
    ``size`` canvas (or moved from its centre by ``shift``, ``(N, 2)`` pixels, x right and y
    down), float (N, 1, size, size)."""
    x = digits.float().div(255).unsqueeze(1)
    n = x.shape[0]
    a = torch.full((n,), float(degrees))
    tx, ty = shift.unbind(1) if shift is not None else (torch.zeros(n), torch.zeros(n))
    m = geo.similarity_pixels(torch.deg2rad(a), torch.full((n,), float(scale)), tx, ty, 28, size)
    return geo.sample(x, geo.matrix_grid(m, size, size, affine=True))


def test_set_metrics(model, ts: data.TestSet, batch_size: int, device) -> dict:
    logits = logits_of(model, ts.images, batch_size, device)
    out = M.error_rate(logits, ts.labels)
    out.update({"nll": M.nll(logits, ts.labels), "ece": M.ece(logits, ts.labels), "confidence": M.confidence(logits)})
    return out


def robustness(model, digits: torch.Tensor, labels: torch.Tensor, size: int, batch_size: int, device) -> dict:
    def acc(deg, sc, shift=None):
        lg = logits_of(model, place(digits, size, deg, sc, shift), batch_size, device)
        return (lg.argmax(1) == labels).double().mean().item()

    rot = [acc(a, 1.0) for a in ANGLES]
    scl = [acc(0.0, s) for s in SCALES]
    # translation: each digit moves along its own direction, drawn once (seeded)
    heading = torch.rand(digits.shape[0], generator=torch.Generator().manual_seed(1)) * (2 * torch.pi)
    unit = torch.stack([heading.cos(), heading.sin()], 1)
    dists = translations(size)
    shf = [acc(0.0, 1.0, d * unit) for d in dists]
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
        "translation_curve": {"pixels": dists, "accuracy": shf}, "translation_auc": M.curve_auc(dists, shf),
    }


@torch.no_grad()
def recovery(model, ts: data.TestSet, clean: torch.Tensor, batch_size: int, device, n: int = 2000) -> dict | None:
    """How far the head's warp undoes the known distortion. Pixel error: mean squared difference
    between the rectified image and the clean digit centred on the canvas; the identity (no
    warp) is the floor to beat. Matrix error (matrix heads): distance of gt @ A from the
    centring map."""
    if "matrix" not in ts.gt:
        return None
    head = model.transformer
    if not getattr(head, "has_identity", True) or tuple(head.out_shape) != tuple(ts.images.shape[1:]):
        # polar, glimpse, pstn: the output is no rectified digit of the input's size
        return {"skipped": f"n/a ({type(head).__name__}: no identity warp, or an output of another size)"}
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


def compatible_sets(size: int, *, padded: bool = False) -> list[str]:
    """Our test sets of image size ``size`` (with ``padded``: also the smaller ones, which
    evaluation pads onto the canvas)."""
    return [n for n in data.DATASETS if data.image_size(n) == size or (padded and data.image_size(n) < size)]


def evaluate_model(model, cfg, device, *, sets: list[str], batch_size: int = 1000, test_limit: int = 0, curves: bool = True,
                   files: dict[str, data.TestSet] | None = None) -> dict:
    """Every metric of ``model`` (config dict ``cfg``) on our test sets ``sets`` and the external
    sets ``files`` (name -> TestSet, read by ``common.testfiles``). A set smaller than the model's
    input is padded onto its canvas (``testfiles.pad_to``; its row says ``padded_from``, and it
    has no transform recovery); a larger one raises UsageError. MNIST is read only when ``sets``
    or ``curves`` need it."""
    root, cache = data.resolve_data_root(cfg.get("data_root")), data.resolve_cache_dir(cfg.get("cache_dir"))
    size = data.image_size(cfg["dataset"])
    for ts in (files or {}).values():
        testfiles.check_fits(ts, size)  # refuses before any work
    clean_x, clean_y = data.load_mnist(root, train=False) if sets or curves else (None, None)
    report = {"variant": cfg["variant"], "dataset": cfg["dataset"], "coordconv": cfg["coordconv"], "sets": {}}
    cut = bool(test_limit) and curves and test_limit < min(CURVE_DIGITS, len(clean_y))  # a partial report says so at its top
    jobs = [(n, None) for n in sets] + list((files or {}).items())
    for name, ext in tqdm(jobs, desc="test sets", unit="set", disable=len(jobs) < 4 or None, leave=False):
        ts = ext if ext is not None else data.load_test_set(name, root, cache, quiet=True)
        native = ts.images.shape[-1]
        cut |= bool(test_limit) and len(ts) > test_limit
        ts = testfiles.pad_to(ts.head(test_limit), size)
        row = test_set_metrics(model, ts, batch_size, device)
        rec = recovery(model, ts, clean_x, batch_size, device) if ext is None and name != "mnist" else None
        if rec:
            row["recovery"] = rec
        if native != size:
            row["padded_from"] = native
        if ext is not None:
            row["external"] = True
        report["sets"][name] = row
    if cut:  # only when --test-limit cut a set (or the curves' digits): a limit above every size changes nothing
        report["test_limit"] = test_limit
    if curves:
        k = min(CURVE_DIGITS, test_limit or CURVE_DIGITS)
        report["robustness"] = robustness(model, clean_x[:k], clean_y[:k], size, batch_size, device)
    shape = (1, size, size)
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    report["cost"] = {"params": n_params, "flops_per_image": flops_per_image(model, shape, device), **throughput(model, shape, device)}
    return report


# --------------------------------------------------------------------------- writing
def to_markdown(report: dict) -> str:
    limit = report.get("test_limit")
    lines = [f"### {report['variant']}{' + CoordConv' if report['coordconv'] else ''}, trained on {report['dataset']}", "",
             *([f"**Scored on the first {limit} images of each set only (--test-limit): not comparable with full-set reports.**", ""] if limit else []),
             "| test set | accuracy | error % (95% CI) | NLL | ECE | mean confidence | pixel MSE (identity) | matrix error (identity) |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in report["sets"].items():
        lo, hi = r["error_ci95"]
        rec = r.get("recovery") or {}
        pix = rec["skipped"] if "skipped" in rec else f"{rec['pixel_mse']:.4f} ({rec['pixel_mse_identity']:.4f})" if rec else "–"
        mat = f"{rec['matrix_error']:.3f} ({rec['matrix_error_identity']:.3f})" if "matrix_error" in rec else "–"
        tag = f" (padded {r['padded_from']}→{report_size(report)})" if "padded_from" in r else ""
        conf = f"{r['confidence']:.4f}" if "confidence" in r else "–"  # reports written before it existed
        lines.append(f"| {name}{tag} | {r['correct']}/{r['n']} | {100 * r['error']:.2f} ({100 * lo:.2f}–{100 * hi:.2f}) | {r['nll']:.4f} | {r['ece']:.4f} | {conf} | {pix} | {mat} |")
    lines += ["", "Mean confidence is the mean top-class probability: below the accuracy, the model is under-confident."]
    if "robustness" in report:
        rb = report["robustness"]
        lines += ["", f"rotation AUC {rb['rotation_auc']:.4f} · scale AUC {rb['scale_auc']:.4f} · invariance {rb['invariance']:.4f}"]
        if "translation_auc" in rb:
            lines.append(f"translation AUC {rb['translation_auc']:.4f} (0–{rb['translation_curve']['pixels'][-1]:g} px from the centre)")
    c = report["cost"]
    lines += ["", f"cost: {c['params']:,} parameters · {c['flops_per_image'] / 1e6:.2f} MFLOP/image (forward) · "
              f"train {c['train_images_per_s']:.0f} img/s · inference {c['inference_images_per_s']:.0f} img/s"]
    return "\n".join(lines) + "\n"


def plot_curves(report: dict, path: Path) -> Path | None:
    """``robustness.png``: the rotation, scale and translation curves of one run (None without curves)."""
    if "robustness" not in report:
        return None
    title = f"{report['variant']}{' + CoordConv' if report['coordconv'] else ''} trained on {report['dataset']}"
    return plot_curves_of({title: report}, path, title=title)


def plot_curves_of(reports: dict[str, dict], path: Path, *, title: str = "") -> Path:
    """The robustness curves of several runs (label -> report with ``robustness``) on shared
    axes, one panel per nuisance; AUCs in the panel titles (one run) or the legend (several)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rbs = {k: r["robustness"] for k, r in reports.items()}
    shift = all("translation_curve" in rb for rb in rbs.values())
    fig, (a, b, *c) = plt.subplots(1, 3 if shift else 2, figsize=(15 if shift else 10, 3.6))
    panels = [(a, "rotation", "degrees", "rotation of the test digit (degrees)"), (b, "scale", "scale", "scale of the test digit")]
    if shift:
        panels.append((c[0], "translation", "pixels", "distance of the digit from the canvas centre (pixels)"))
    one = len(rbs) == 1
    for ax, key, x, xlabel in panels:
        for label, rb in rbs.items():
            auc = rb[f"{key}_auc"]
            ax.plot(rb[f"{key}_curve"][x], rb[f"{key}_curve"]["accuracy"], marker="o", ms=3, label=None if one else f"{label} (AUC {auc:.3f})")
        ax.set(xlabel=xlabel, ylim=(0, 1.02), title=f"{key} (AUC {auc:.3f})" if one else key)
        ax.grid(alpha=0.3)
    a.set_ylabel("accuracy")
    if shift:
        edges = {training_shift(r["dataset"]) for r in reports.values()} - {0.0}
        for edge in sorted(edges):
            c[0].axvline(edge, color="grey", ls="--", lw=1, label=f"training: ≤{edge:g} px per axis (scale 1)")
    for ax, *_ in panels:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower left", fontsize=8)
    if title:
        fig.suptitle(title)
    return _save_figure(fig, path)


def _save_figure(fig, path: Path) -> Path:
    """Save atomically (a reader never sees half a PNG) and close."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def report_size(report: dict) -> int:
    return data.image_size(report["dataset"])


def sets_table(reports: dict[str, dict]) -> str:
    """Markdown: one row per test set, one column per run (label -> report): accuracy % and NLL."""
    names = list(dict.fromkeys(n for r in reports.values() for n in r["sets"]))
    lines = ["| test set | " + " | ".join(f"{k}: accuracy % (NLL)" for k in reports) + " |", "|---|" + "---|" * len(reports)]
    for n in names:
        cells = []
        for r in reports.values():
            row = r["sets"].get(n)
            cells.append(f"{100 * row['accuracy']:.2f} ({row['nll']:.3f})" if row else "–")
        size = max(r["sets"][n].get("padded_from", 0) for r in reports.values() if n in r["sets"])
        tags = (["external"] if any(r["sets"].get(n, {}).get("external") for r in reports.values()) else []) + ([f"padded from {size}px"] if size else [])
        lines.append(f"| {n}{' (' + ', '.join(tags) + ')' if tags else ''} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_sets(reports: dict[str, dict], path: Path) -> Path:
    """One figure: accuracy (top) and NLL (bottom) on every test set, the runs side by side as
    points (the accuracy axis does not start at 0, so bars would exaggerate the gaps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(dict.fromkeys(n for r in reports.values() for n in r["sets"]))
    fig, (a, b) = plt.subplots(2, 1, figsize=(max(6.0, 0.9 * len(names) * max(1, len(reports)) ** 0.5 + 2), 6.4), sharex=True)
    width = 0.6 / len(reports)
    pos = np.arange(len(names))
    for i, (label, r) in enumerate(reports.items()):
        acc = [100 * r["sets"][n]["accuracy"] if n in r["sets"] else np.nan for n in names]
        nll = [r["sets"][n]["nll"] if n in r["sets"] else np.nan for n in names]
        x = pos - 0.3 + width * (i + 0.5)
        a.plot(x, acc, "o", ms=7, label=label)
        b.plot(x, nll, "o", ms=7, label=label)
    a.set(ylabel="accuracy (%)")
    b.set(ylabel="NLL (lower is better)", ylim=(0, None))
    b.set_xticks(pos, names, rotation=30 if len(names) > 4 else 0, ha="right" if len(names) > 4 else "center")
    for ax in (a, b):
        ax.grid(alpha=0.3)
    a.legend(fontsize=8, loc="best")
    a.set_title("accuracy and NLL per test set")
    return _save_figure(fig, path)


def write_sets_report(reports: dict[str, dict], out_dir: Path) -> dict[str, Path]:
    """``sets.md`` (:func:`sets_table`), ``sets.json`` (label -> name -> accuracy, nll, n) and
    ``sets.png`` (:func:`plot_sets`) in ``out_dir``, each written atomically; for several runs
    with robustness curves also ``curves.png`` (:func:`plot_curves_of`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"md": out_dir / "sets.md", "json": out_dir / "sets.json", "png": out_dir / "sets.png"}
    summary = {k: {n: {f: s[f] for f in ("accuracy", "error", "nll", "ece", "n")} for n, s in r["sets"].items()} for k, r in reports.items()}
    for key, text in (("md", sets_table(reports)), ("json", json.dumps(summary, indent=2))):
        _write_text(paths[key], text)
    plot_sets(reports, paths["png"])
    if len(reports) > 1 and all("robustness" in r for r in reports.values()):
        paths["curves"] = plot_curves_of(reports, out_dir / "curves.png")
    return paths


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_report(report: dict, out_dir: Path) -> dict[str, Path]:
    """``out_dir``/eval.json, eval.md and, when ``report`` has curves, robustness.png; returns
    their paths. The files of an earlier report there are replaced, and its robustness.png removed
    when this one has no curves, so the folder always holds one report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "eval.json", "md": out_dir / "eval.md", "png": out_dir / "robustness.png"}
    for key, text in (("json", json.dumps(report, indent=2)), ("md", to_markdown(report))):
        _write_text(paths[key], text)
    if plot_curves(report, paths["png"]) is None:
        paths.pop("png").unlink(missing_ok=True)  # an earlier report's curves, not this one's
    return paths


def scope(report: dict) -> str:
    """What a report covers, in words: its sets, whether it has the robustness curves, and its
    image limit ("sets mnist, rotated; curves; every image")."""
    limit = f"first {report['test_limit']:,} images" if report.get("test_limit") else "every image"
    return f"sets {', '.join(report['sets']) or 'none'}; {'curves' if 'robustness' in report else 'no curves'}; {limit}"
