"""What a run ran on, and whether a checkpoint can be resumed here bit for bit.

``environment(device)`` is recorded in the run folder (``env.json``, one entry per start or
resume) and in every checkpoint. A resume reproduces an uninterrupted run's metrics exactly only
where the floating-point work and the random streams are the same: the same device type (and GPU
model), the same torch version, the same CPU model and number of threads. ``differences`` names
what changed; ``train.py`` says it in one line, and a change of device type makes the trainer
convert the checkpoint (see ``Trainer.load_state_dict``).
"""
from __future__ import annotations

import platform
import sys

import torch

# the keys that decide whether a resumed run repeats an uninterrupted one exactly
EXACT_KEYS = ("device_type", "device_name", "torch", "threads", "cpu")


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(device) -> dict:
    """``{"torch", "device_type", "device_name", "threads", "cpu", "python", "host"}`` for a run on
    ``device`` (a torch.device or its name)."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {"torch": str(torch.__version__), "device_type": device.type, "device_name": name, "threads": torch.get_num_threads(),
            "cpu": _cpu_model(), "python": platform.python_version(), "host": platform.node(), "argv": sys.argv[1:]}


def legacy_environment(checkpoint: dict) -> dict:
    """A checkpoint written before environments were recorded: the device type is read from the
    data stream's generator state (a CPU generator's state is 5056 bytes, a CUDA one's 16)."""
    state = checkpoint.get("stream")
    n = state.numel() if isinstance(state, torch.Tensor) else 0
    return {"device_type": "cpu" if n > 16 else "cuda", "recorded": False}


def differences(saved: dict, now: dict) -> list[str]:
    """``"key: saved -> now"`` for every key of ``EXACT_KEYS`` that differs (keys a legacy record
    lacks are not compared)."""
    return [f"{k}: {saved[k]} -> {now[k]}" for k in EXACT_KEYS if k in saved and saved[k] != now.get(k)]
