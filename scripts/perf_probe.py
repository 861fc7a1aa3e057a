"""What speeds up the training step of the tutorial model on this CPU? (batch 64, SGD 0.01)

    python scripts/perf_probe.py            # eager, channels_last, oneDNN off, bf16 autocast, torch.compile
    python scripts/perf_probe.py --no-compile
Alternates the variants in one process, three rounds, and prints images/s per round. bf16 changes
the arithmetic (the benchmark's comparison is fp32 against fp32); it is here to show how much a
lower precision would buy on a CPU with bf16 instructions.
"""
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import variants  # noqa: E402
from common.config import Parser  # noqa: E402
from common.models import STNClassifier, TutorialCNN  # noqa: E402
from common.runs import cli  # noqa: E402


def build(channels_last):
    torch.manual_seed(0)
    m = STNClassifier(variants.build("affine", (1, 28, 28)), TutorialCNN((1, 28, 28)))
    return m.to(memory_format=torch.channels_last) if channels_last else m


def stepper(model, compiled=False, bf16=False):
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    fwd = torch.compile(model) if compiled else model
    x, y = torch.rand(64, 1, 28, 28), torch.randint(0, 10, (64,))

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = fwd(x)
        F.cross_entropy(logits.float(), y).backward()
        opt.step()

    return step


def timed(step, n=100, mkldnn=True):
    torch.backends.mkldnn.enabled = mkldnn
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    torch.backends.mkldnn.enabled = True
    return n * 64 / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out (it compiles for about 20 s first)")
    a = ap.parse_args(argv)
    variants_ = {"eager": (stepper(build(False)), True), "channels_last": (stepper(build(True)), True),
                 "oneDNN off": (stepper(build(False)), False),
                 "channels_last + bf16": (stepper(build(True), bf16=True), True)}
    if not a.no_compile:
        t0 = time.perf_counter()
        s = stepper(build(True), compiled=True)
        for _ in range(3):
            s()
        print(f"torch.compile warm-up: {time.perf_counter() - t0:.1f} s")
        variants_["channels_last + compile"] = (s, True)
    for s, mk in variants_.values():
        timed(s, 10, mk)
    res = {k: [] for k in variants_}
    for r in range(3):
        for k, (s, mk) in variants_.items():
            res[k].append(timed(s, mkldnn=mk))
    for k, v in res.items():
        print(f"{k:<26} median {statistics.median(v):7.0f} img/s  rounds {[round(x) for x in v]}")
    return 0


if __name__ == "__main__":
    sys.exit(cli(main))
