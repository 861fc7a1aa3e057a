import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


SMALL = ROOT / "tests" / "data" / "mnist_small.npz"  # 1,000 + 500 real digits (tests/data/make_small_mnist.py)


def write_idx(root: Path, npz: Path = SMALL) -> Path:
    """Write ``npz``'s digits as ``root/MNIST/raw/*-ubyte`` in torchvision's raw idx layout
    (big-endian magic 0x0803 / 0x0801, then the dimensions, then the bytes); returns ``root``."""
    import numpy as np

    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    arrays = np.load(npz)
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(np.array([0x803, *images.shape], ">i4").tobytes() + images.astype(np.uint8).tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(np.array([0x801, len(labels)], ">i4").tobytes() + labels.astype(np.uint8).tobytes())
    return root


def pytest_configure(config):
    """Data: $STN_DATA_ROOT if set, else ../shared/data when present, else (a fresh clone, no
    network; or STN_TEST_DATA=small) the 1,500 digits in tests/data written out as MNIST. Keep W&B
    and caches out of $HOME."""
    scratch = Path(os.environ.get("STN_TEST_SCRATCH", ROOT / ".pytest_scratch"))
    shared = ROOT.parent / "shared" / "data"
    if os.environ.get("STN_TEST_DATA") == "small" or ("STN_DATA_ROOT" not in os.environ and not (shared / "MNIST" / "raw").exists()):
        os.environ["STN_DATA_ROOT"] = str(write_idx(scratch / "mnist-small"))
        os.environ.setdefault("STN_CACHE_DIR", str(scratch / "cache-small"))  # test sets of other digits
    elif "STN_DATA_ROOT" not in os.environ:
        os.environ["STN_DATA_ROOT"] = str(shared)
    for var, sub in [("WANDB_DIR", "wandb"), ("WANDB_CACHE_DIR", "wandb-cache"), ("WANDB_DATA_DIR", "wandb-data"),
                     ("WANDB_CONFIG_DIR", "wandb-config"), ("STN_CACHE_DIR", "cache"), ("MPLCONFIGDIR", "mpl")]:
        os.environ.setdefault(var, str(scratch / sub))
        Path(os.environ[var]).mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WANDB_MODE", "offline")
    torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(scope="session")
def data_root():
    from common.data import resolve_data_root

    root = resolve_data_root(None)
    assert (root / "MNIST" / "raw").exists(), f"MNIST not found under {root}; unset STN_DATA_ROOT to use tests/data"
    return root


@pytest.fixture(scope="session")
def mnist(data_root):
    from common.data import load_mnist

    return load_mnist(data_root, train=True), load_mnist(data_root, train=False)


@pytest.fixture(scope="session")
def cli():
    """Run a command line of this project like ``subprocess.run([sys.executable, script, *args],
    capture_output=True, text=True)``, in one server process that imported torch once
    (tests/cli_server.py); ``STN_TEST_CLI=subprocess`` starts a real interpreter per call instead."""
    from cli_server import CliServer

    server = CliServer(real=os.environ.get("STN_TEST_CLI") == "subprocess")
    yield server
    server.close()
