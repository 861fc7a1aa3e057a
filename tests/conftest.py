import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def pytest_configure(config):
    """Point data at ../shared/data when present; keep W&B and caches out of $HOME."""
    shared = ROOT.parent / "shared" / "data"
    if "STN_DATA_ROOT" not in os.environ and shared.exists():
        os.environ["STN_DATA_ROOT"] = str(shared)
    scratch = Path(os.environ.get("STN_TEST_SCRATCH", ROOT / ".pytest_scratch"))
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
    if not (root / "MNIST" / "raw").exists():
        pytest.skip(f"MNIST not found under {root}; set STN_DATA_ROOT")
    return root


@pytest.fixture(scope="session")
def mnist(data_root):
    from common.data import load_mnist

    return load_mnist(data_root, train=True), load_mnist(data_root, train=False)
