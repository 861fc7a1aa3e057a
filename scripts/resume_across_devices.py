"""Half of the cross-device resume check: start a small run on this machine's device, stop it with
SIGTERM inside epoch 2 (it checkpoints mid-epoch), and copy its run folder to OUT, so that the same
command can resume it on another machine (a CPU box: see docs/runs.md).

    python scripts/resume_across_devices.py OUT [--device cuda]

Data: the 1,500 digits of tests/data, written out as MNIST under a temporary folder.
"""
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))
from common.config import Parser  # noqa: E402
from common.errors import UsageError  # noqa: E402
from common.runs import cli, writable_folder  # noqa: E402
from conftest import write_idx  # noqa: E402

ARGS = ["--epochs=3", "--train-limit=1000", "--test-limit=200", "--batch-size=32", "--wandb=False", "--eval=basic", "--img=x.png"]


def main() -> int:
    ap = Parser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="folder to copy the stopped run into (OUT/moved)")
    ap.add_argument("--device", default="cuda", help="the device to start the run on (default: cuda)")
    a = ap.parse_args()
    writable_folder(a.out, "OUT")  # before minutes of training, not after
    tmp = Path(tempfile.mkdtemp())
    data = write_idx(tmp / "data")
    cmd = [sys.executable, str(ROOT / "train.py"), *ARGS, f"--device={a.device}", f"--data-root={data}", f"--cache-dir={tmp / 'cache'}",
           "--out-dir", str(tmp / "runs"), "--run-name", "moved", "--log-interval=1"]
    print("$", " ".join(cmd), flush=True)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp)
    for line in p.stdout:
        if line.startswith("Train Epoch: 2 "):
            p.send_signal(signal.SIGTERM)
            break
    out, err = p.communicate(timeout=300)
    print(err, flush=True)
    print(f"exit {p.returncode}")
    if p.returncode != 128 + signal.SIGTERM or not (tmp / "runs" / "moved" / "checkpoint.pt").exists():
        last = (err.strip().splitlines() or ["no output"])[-1]
        shutil.rmtree(tmp, ignore_errors=True)
        raise UsageError(f"the run was not stopped inside epoch 2 with a checkpoint (train.py exit {p.returncode}: {last}); "
                         "nothing copied: fix that and run again")
    shutil.copytree(tmp / "runs" / "moved", Path(a.out) / "moved", dirs_exist_ok=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(cli(main))
