"""Training throughput: the PyTorch STN tutorial's pipeline against ours, in one run.

    python bench.py                 # tutorial vs ours (batch 64, SGD 0.01), then every head x size
    python bench.py --epoch         # also one full epoch of each, with test accuracy
    python bench.py --device cuda   # unchanged on a GPU: data stays on the GPU end to end

The reference re-creates the tutorial: torchvision MNIST with ToTensor + Normalize through a
DataLoader (batch 64, shuffle, 4 workers), its Net (same layers as ours), SGD lr 0.01, NLL loss.
Ours: the same model and optimizer fed by ``TrainStream`` (uint8 data on the device, no
DataLoader). Reference and ours alternate, ``--rounds`` times, so machine noise hits both; the
figure that counts is the ratio of medians. Two ceilings are timed in the same rounds: our
pipeline training the tutorial's classifier alone (no transformer), and the model's four
convolutions alone (forward and backward, PyTorch's own kernels): the STN model cannot train
faster than either. ``--epoch`` trains one epoch of each from ``--seeds`` fresh starts and
compares test accuracy (mean and spread: one epoch of plain SGD varies by several points from
seed to seed). Then train images/s and peak memory for every head at every dataset image size
(batch 128).
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

import variants
from common import data, runs
from common.config import Config, HelpFormatter, Parser, at_least
from common.errors import UsageError
from common.models import MNIST_MEAN, MNIST_STD, STNClassifier, TutorialCNN
from common.trainer import evaluate, make_optimizer, pick_device


class TutorialNet(nn.Module):
    """The PyTorch STN tutorial's model, layer for layer (normalised input, align_corners=False)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1, self.fc2 = nn.Linear(320, 50), nn.Linear(50, 10)
        self.localization = nn.Sequential(nn.Conv2d(1, 8, 7), nn.MaxPool2d(2, 2), nn.ReLU(True), nn.Conv2d(8, 10, 5), nn.MaxPool2d(2, 2), nn.ReLU(True))
        self.fc_loc = nn.Sequential(nn.Linear(90, 32), nn.ReLU(True), nn.Linear(32, 6))
        self.fc_loc[2].weight.data.zero_()
        self.fc_loc[2].bias.data.copy_(torch.tensor([1, 0, 0, 0, 1, 0], dtype=torch.float))

    def forward(self, x):
        theta = self.fc_loc(self.localization(x).flatten(1)).view(-1, 2, 3)
        x = F.grid_sample(x, F.affine_grid(theta, x.size(), align_corners=False), align_corners=False)
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)


def tutorial_loader(root: Path, workers: int):
    import torchvision
    from torchvision import transforms

    ds = torchvision.datasets.MNIST(str(root), train=True, download=True,
                                    transform=transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))]))
    return torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=workers, persistent_workers=workers > 0)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_steps(step, steps, batch, device) -> float:
    """Images/s of ``steps`` calls of ``step`` (each ``batch`` images), device work included."""
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    return steps * batch / (time.perf_counter() - t0)


def time_reference(model, opt, it, steps, device) -> float:
    model.train()

    def step():
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        opt.zero_grad()
        F.nll_loss(model(x), y).backward()
        opt.step()

    return time_steps(step, steps, 64, device)


def time_ours(model, opt, stream, steps, device, batches) -> float:
    model.train()

    def step():
        try:
            _, (x, y, _gt) = next(batches[0])
        except StopIteration:
            batches[0] = stream.batches(stream.permutation())
            _, (x, y, _gt) = next(batches[0])
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return time_steps(step, steps, stream.batch_size, device)


def conv_stepper(model: nn.Module, batch: int, device):
    """One forward + backward through ``model``'s convolutions alone, each fed a random input
    of the shape it sees in the model (an input that needs a gradient in the model
    gets one here: the classifier's first convolution sends its gradient back to the warp)."""
    shapes, hooks = [], []
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    for c in convs:
        hooks.append(c.register_forward_hook(lambda mod, inp, out: shapes.append((mod, inp[0].shape))))
    model.eval()
    with torch.no_grad():
        model(torch.rand(batch, 1, 28, 28, device=device).to(memory_format=torch.channels_last))
    model.train()
    for h in hooks:
        h.remove()
    first = convs[0]  # the localisation net's first layer reads the raw image: no input gradient
    xs = [torch.randn(shape, device=device).to(memory_format=torch.channels_last).requires_grad_(mod is not first) for mod, shape in shapes]

    def step():
        for (mod, _), x in zip(shapes, xs):
            mod(x).sum().backward()

    return step


def mean_sd(v: list[float]) -> tuple[float, float]:
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else 0.0)


def endless(loader):
    while True:
        yield from loader


def peak_memory_reset(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        try:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)
        except OSError:
            pass


def peak_memory_mb(device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    ap.add_argument("--steps", type=at_least(1), default=150, help="training steps per timed block")
    ap.add_argument("--rounds", type=at_least(1), default=3, help="alternating reference/ours blocks")
    ap.add_argument("--workers", type=at_least(0), default=4, help="the reference DataLoader's workers (the tutorial uses 4)")
    ap.add_argument("--epoch", action="store_true", help="also train one full epoch of each and compare test accuracy")
    ap.add_argument("--seeds", type=at_least(1), default=3, help="--epoch: fresh starts of each model")
    ap.add_argument("--heads", action=argparse.BooleanOptionalAction, default=True, help="time every head at every image size")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-root", default="")
    ap.add_argument("--json", default="", help="also write the figures here")
    a = ap.parse_args(argv)
    if a.json:  # its folder made and checked before minutes of timing, not after
        if Path(a.json).is_dir():
            raise UsageError(f"--json {a.json} is a folder; pass a file path, e.g. {Path(a.json) / 'bench.json'}")
        runs.writable_folder(Path(a.json).resolve().parent, fix="pass --json a path in a writable folder")
    device = pick_device(a.device)
    root = data.resolve_data_root(a.data_root)
    data.load_mnist(root, train=True)  # a missing or broken MNIST: one line naming --data-root, before any timing
    torch.manual_seed(0)
    out = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads()}
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads")

    # ---------------------------------------------------------------- tutorial vs ours
    ref = TutorialNet().to(device)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.01)
    loader = tutorial_loader(root, a.workers)
    it = endless(loader)
    cfg = Config(optimizer="sgd", lr=0.01, loc_lr=1.0, momentum=0.0, batch_size=64)

    def our_model(head="affine"):
        m = STNClassifier(variants.build(head, (1, 28, 28)), TutorialCNN((1, 28, 28))).to(device)
        return m.to(memory_format=torch.channels_last) if device.type == "cpu" else m

    ours = our_model()
    opt = make_optimizer(cfg, ours)
    alone = our_model("none")  # the ceiling: the same classifier with no transformer in front
    alone_opt = make_optimizer(cfg, alone)
    convs = conv_stepper(our_model(), 64, device)
    train_x, train_y = data.load_mnist(root, train=True)
    stream = data.TrainStream("mnist", train_x, train_y, batch_size=64, seed=0, device=device)
    batches = [stream.batches(stream.permutation())]
    time_reference(ref, ref_opt, it, 20, device)  # warm-up (workers start, caches fill)
    time_ours(ours, opt, stream, 20, device, batches)
    time_ours(alone, alone_opt, stream, 20, device, batches)
    time_steps(convs, 20, 64, device)
    r_ips, o_ips, a_ips, c_ips = [], [], [], []
    for k in range(a.rounds):
        r_ips.append(time_reference(ref, ref_opt, it, a.steps, device))
        o_ips.append(time_ours(ours, opt, stream, a.steps, device, batches))
        a_ips.append(time_ours(alone, alone_opt, stream, a.steps, device, batches))
        c_ips.append(time_steps(convs, a.steps, 64, device))
        print(f"round {k + 1}: tutorial {r_ips[-1]:7.0f} img/s | ours {o_ips[-1]:7.0f} img/s | "
              f"classifier alone {a_ips[-1]:7.0f} | convolutions alone {c_ips[-1]:7.0f}")
    r_med, o_med, a_med, c_med = (statistics.median(v) for v in (r_ips, o_ips, a_ips, c_ips))
    print(f"tutorial pipeline {r_med:.0f} img/s, ours {o_med:.0f} img/s: ratio {o_med / r_med:.2f}x (same model, batch 64, SGD 0.01)")
    print(f"ceilings in our pipeline: the classifier alone (no transformer) {a_med:.0f} img/s = {a_med / r_med:.2f}x; "
          f"the model's four convolutions alone (forward + backward) {c_med:.0f} img/s = {c_med / r_med:.2f}x the tutorial")
    out["tutorial_vs_ours"] = {"tutorial_images_per_s": r_ips, "ours_images_per_s": o_ips, "ratio_of_medians": o_med / r_med,
                               "classifier_alone_images_per_s": a_ips, "convolutions_alone_images_per_s": c_ips,
                               "classifier_alone_ratio": a_med / r_med, "convolutions_alone_ratio": c_med / r_med}

    if a.epoch:  # one full epoch each, from fresh weights, then test accuracy; several seeds
        test = data.load_test_set("mnist", root, data.resolve_cache_dir(""))
        x_test = (test.images.float() / 255 - MNIST_MEAN) / MNIST_STD
        trials = {"tutorial": [], "ours": []}
        for seed in range(1, a.seeds + 1):
            torch.manual_seed(seed)
            ref, ours = TutorialNet().to(device), our_model()
            ref_opt, opt = torch.optim.SGD(ref.parameters(), lr=0.01), make_optimizer(cfg, ours)
            t_ref = len(loader) * 64 / time_reference(ref, ref_opt, iter(loader), len(loader), device)
            stream = data.TrainStream("mnist", train_x, train_y, batch_size=64, seed=seed, device=device)
            batches = [stream.batches(stream.permutation())]
            t_ours = len(stream) * 64 / time_ours(ours, opt, stream, len(stream), device, batches)
            ref.eval()
            with torch.no_grad():
                pred = torch.cat([ref(x_test[i : i + 1000].to(device)).argmax(1).cpu() for i in range(0, len(test), 1000)])
            ref_acc = (pred == test.labels).float().mean().item()
            our_acc = evaluate(ours, test, 1000, device).accuracy
            trials["tutorial"].append({"seed": seed, "seconds": t_ref, "accuracy": ref_acc})
            trials["ours"].append({"seed": seed, "seconds": t_ours, "accuracy": our_acc})
            print(f"one epoch, seed {seed}: tutorial {t_ref:.1f} s -> {100 * ref_acc:.2f}% | ours {t_ours:.1f} s -> {100 * our_acc:.2f}%")
        (rm, rs), (om, os_) = (mean_sd([100 * r["accuracy"] for r in trials[k]]) for k in ("tutorial", "ours"))
        se = math.sqrt((rs**2 + os_**2) / a.seeds)
        verdict = "within noise" if abs(om - rm) <= 2 * se else "NOT within noise"
        print(f"one epoch, {a.seeds} seeds: tutorial {rm:.2f} ± {rs:.2f}% | ours {om:.2f} ± {os_:.2f}%: "
              f"difference {om - rm:+.2f} points, standard error {se:.2f}: {verdict} (|difference| <= 2 standard errors)")
        out["one_epoch"] = trials | {"difference_points": om - rm, "standard_error_points": se, "within_noise": verdict == "within noise"}

    # ---------------------------------------------------------------- every head, every size
    if a.heads:
        out["heads"] = []
        print(f"\n{'head':<11}{'size':>5}{'img/s':>9}{'peak MB':>9}   (batch 128, Adam, training step incl. distortion)")
        for size, ds in ((28, "rotated"), (42, "rts"), (60, "cluttered")):
            s = data.TrainStream(ds, train_x[:20000], train_y[:20000], batch_size=128, seed=0, device=device)
            for name in variants.names():
                torch.manual_seed(0)
                m = variants.build_model(Config(variant=name, dataset=ds)).to(device)  # each head with the classifier built for its output
                if device.type == "cpu":
                    m.to(memory_format=torch.channels_last)
                o = make_optimizer(Config(), m)
                b = [s.batches(s.permutation())]
                time_ours(m, o, s, 3, device, b)
                peak_memory_reset(device)
                ips = time_ours(m, o, s, 15, device, b)
                mb = peak_memory_mb(device)
                print(f"{name:<11}{size:>5}{ips:>9.0f}{mb or float('nan'):>9.0f}")
                out["heads"].append({"head": name, "size": size, "images_per_s": ips, "peak_memory_mb": mb})
    if a.json:
        try:
            runs.write_json(a.json, out)
        except OSError as err:  # the folder was checked before the timing; one that changed since
            raise UsageError(f"cannot write --json {a.json} ({err.strerror}); the figures are printed above") from None
    return 0


if __name__ == "__main__":
    sys.exit(runs.cli(main))
