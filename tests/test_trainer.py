"""The trainer's schedule and clock, in-process (no subprocess): fast and exact."""
import collections

import pytest
import torch

import variants
from common import data
from common.config import Config
from common.trainer import Diverged, Stopped, Trainer, make_scheduler


def lrs_used(cfg: Config, steps_per_epoch: int) -> list[float]:
    """The learning rate each update of a run of ``cfg`` trains with (the trainer calls
    ``step_update(t)`` after update t)."""
    opt = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=cfg.lr)
    sched = make_scheduler(cfg, opt, steps_per_epoch)
    used = []
    for t in range(1, cfg.epochs * steps_per_epoch + 1):
        used.append(round(opt.param_groups[0]["lr"], 9))
        sched.step_update(t)
    return used


@pytest.mark.parametrize("warmup", [0.0, 0.5])
def test_step_schedule_divides_by_10_at_half_and_again_at_three_quarters(warmup):
    """Item 4: 4 epochs x 100 updates decayed once, at update 250 (timm counted the milestone
    after the warm-up, and one milestone only)."""
    used = lrs_used(Config(sched="step", lr=1.0, epochs=4, warmup_epochs=warmup), 100)
    assert used[50:200] == [1.0] * 150  # full rate until 50%
    assert used[200:300] == [0.1] * 100 and used[300:] == [0.01] * 100
    assert collections.Counter(used[:50])[1.0] == (50 if warmup == 0 else 0)  # the warm-up is inside the first half


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class TickingStream(data.TrainStream):
    """Every batch takes one fake second; ``stop`` = (epoch, batch) asks the trainer to stop after it."""

    def __init__(self, *a, clock, **kw):
        super().__init__(*a, **kw)
        self.clock, self.trainer, self.stop = clock, None, None

    def batches(self, perm, start=0):
        for i, batch in super().batches(perm, start):
            self.clock.t += 1.0
            if self.stop == (self.trainer.epoch + 1, i):
                self.trainer.stop_requested = True
            yield i, batch


def make_trainer(mnist, clock, ckpt, epochs=2):
    (tx, ty), (sx, sy) = mnist
    cfg = Config(epochs=epochs, batch_size=32, wandb=False)
    torch.manual_seed(0)
    stream = TickingStream("mnist", tx[:320], ty[:320], batch_size=32, seed=1, device="cpu", clock=clock)
    test = data.TestSet("mnist", sx[:64].unsqueeze(1), sy[:64], {})
    trainer = Trainer(cfg, variants.build_model(cfg), stream, test, torch.device("cpu"), checkpoint=ckpt, show=False, clock=clock)
    stream.trainer = trainer
    return trainer


def test_a_resumed_epoch_counts_the_seconds_before_the_stop(tmp_path, mnist):
    """Item 7: an epoch stopped inside and resumed logged only the time after the resume."""
    clock = FakeClock()
    ckpt = tmp_path / "checkpoint.pt"
    first = make_trainer(mnist, clock, ckpt)
    first.stream.stop = (2, 3)  # stop after the 4th of 10 batches of epoch 2
    with pytest.raises(Stopped):
        first.run()
    clock.t += 1000.0  # the pause between the stop and the resume is not training time
    again = make_trainer(mnist, clock, ckpt)
    assert again.load_state_dict(torch.load(ckpt, weights_only=True)) == []  # same environment: exact, no note
    hist = again.run()
    assert [r["epoch_seconds"] for r in hist] == [10.0, 10.0]
    assert hist[1]["train_images_per_s"] == pytest.approx(320 / 10.0)


def test_a_diverging_epoch_keeps_the_last_good_checkpoint(tmp_path, mnist):
    """Epoch 1 trains and is saved; then the weights go bad (as a too-high lr would make them):
    epoch 2 stops with Diverged and the checkpoint on disk is still epoch 1's, finite and exact."""
    ckpt = tmp_path / "checkpoint.pt"
    trainer = make_trainer(mnist, FakeClock(), ckpt)
    good = {}

    def poison(row):
        good.update({k: v.detach().clone() for k, v in trainer.model.state_dict().items()})
        with torch.no_grad():
            next(trainer.model.classifier.parameters()).fill_(float("nan"))

    trainer.on_epoch = poison
    with pytest.raises(Diverged, match="lower --lr"):
        trainer.run()
    sd = torch.load(ckpt, weights_only=True)
    assert sd["epoch"] == 1 and len(sd["history"]) == 1
    assert all(torch.equal(sd["model"][k], v) for k, v in good.items())
    assert all(torch.isfinite(v).all() for v in sd["model"].values() if v.is_floating_point())
