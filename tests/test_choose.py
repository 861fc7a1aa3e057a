"""scripts/study3_choose.py: a recipe chosen from validation runs, its factors read from the runs."""
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import study3_choose  # noqa: E402


def fake_sweep(root: Path, grid: dict[str, list], error, scored_on: str = "rts-val", extra: dict | None = None) -> Path:
    """One finished run per point of ``grid``; its validation error is ``error(point)`` (%)."""
    import itertools
    keys = list(grid)
    for i, values in enumerate(itertools.product(*grid.values())):
        point = dict(zip(keys, values))
        run = root / "runs" / f"r{i}"
        run.mkdir(parents=True)
        cfg = {"dataset": "rts", "seed": 1, "run_name": f"r{i}", "img": f"{run}/stn.png", **point, **(extra or {})}
        (run / "config.json").write_text(json.dumps(cfg))
        (run / "final.json").write_text(json.dumps({"test": {scored_on: {"accuracy": 1 - error(point) / 100}}}))
    return root


def test_factors_come_from_the_runs_and_effects_from_their_pairs(tmp_path, capsys):
    # 32 epochs lowers the error by 0.30 points at either lr; lr=0.006 raises it by 0.10
    fake_sweep(tmp_path, {"epochs": [24, 32], "lr": [0.003, 0.006]},
               lambda p: 1.0 - 0.3 * (p["epochs"] == 32) + 0.1 * (p["lr"] == 0.006))
    runs, factors = study3_choose.load_runs(tmp_path)
    assert factors == {"epochs": [24, 32], "lr": [0.003, 0.006]}  # seed, run_name, img are not factors
    eff = study3_choose.effects(runs, factors)
    assert eff["epochs"]["pairs"] == 2 and eff["epochs"]["mean"] == pytest.approx(-0.3)
    assert eff["lr"]["mean"] == pytest.approx(0.1)
    assert study3_choose.main([str(tmp_path), "--flags"]) == 0
    assert capsys.readouterr().out.strip() == "--epochs=32 --lr=0.003"  # a helpful factor is kept, a harmful one not


def test_a_gain_inside_the_noise_keeps_the_cheaper_level(tmp_path, capsys):
    noise = {(256, 0.0): 0.0, (128, 0.0): -0.5, (256, 0.1): 0.0, (128, 0.1): +0.4}
    fake_sweep(tmp_path, {"batch_size": [128, 256], "label_smoothing": [0.0, 0.1]},
               lambda p: 2.0 + noise[(p["batch_size"], p["label_smoothing"])])
    runs, factors = study3_choose.load_runs(tmp_path)
    assert factors["batch_size"] == [256, 128]  # the larger batch is the cheaper level, listed first
    study3_choose.main([str(tmp_path), "--flags"])
    assert capsys.readouterr().out.strip() == "--batch-size=256 --label-smoothing=0.0"


def test_a_test_set_run_is_refused(tmp_path):
    fake_sweep(tmp_path, {"lr": [0.001, 0.003]}, lambda p: 1.0, scored_on="rts")
    with pytest.raises(SystemExit, match="not a validation set"):
        study3_choose.load_runs(tmp_path)


def test_three_levels_are_refused_with_what_to_do(tmp_path):
    fake_sweep(tmp_path, {"lr": [0.001, 0.003, 0.01]}, lambda p: 1.0)
    with pytest.raises(SystemExit, match="lr takes 3 values"):
        study3_choose.load_runs(tmp_path)


def test_no_finished_run_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "runs").mkdir()
    assert study3_choose.main([str(tmp_path)]) == 2
    assert "run its sweep file" in capsys.readouterr().err
