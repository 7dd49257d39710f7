"""Supernet training: multi-arch steps, sandwich and curriculum, MLM pretraining, exact resume."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from nas.tasks.data import load_task
from nas.training.checkpoint import checkpoint_progress, describe_progress, load_supernet
from nas.training.health import check_supernet, majority_rate, remedy
from nas.training.ranking_study import SPREADS, reused_references, spread_by_size, training_sample
from nas.training.standalone import evaluate_subnet
from nas.training.trainer import ArchSampler, SupernetTrainer, mask_tokens
from search_spaces import get_space
from tests.helpers import plain_config

SMALL_VIT = {
    "stages": [
        {"widths": [16, 32], "heads": [1, 2], "head_dim": 8, "mlp": [32, 64], "blocks": 2, "optional": [2]},
        {"widths": [32, 48], "heads": [2, 4], "head_dim": 8, "mlp": [64, 96], "blocks": 2, "optional": [2]},
    ]
}


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    return load_task("digits", workdir=tmp_path_factory.mktemp("tasks"))


def small_vit():
    return get_space("vit-resnas", "small-images", SMALL_VIT)


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="archs_per_step: 0 must be >= 1"):
        plain_config(archs_per_step=0)
    with pytest.raises(ValueError, match="sandwich: needs archs_per_step >= 2"):
        plain_config(archs_per_step=1, sandwich=True)
    with pytest.raises(ValueError, match="epochs: -1 must be >= 0"):
        plain_config(epochs=-1)


def test_sampler_sandwich_and_curriculum():
    space = get_space("vit-resnas", "small-images")
    rng = random.Random(0)
    sandwich = ArchSampler(space, plain_config(archs_per_step=4, sandwich=True)).archs(0, rng)
    costs = [space.cost(a).params for a in sandwich]
    assert len({a.arch_id for a in sandwich}) == 4
    assert costs[0] == space.cost(space.extreme(rng, True)).params  # largest: every choice at its maximum
    assert costs[1] < min(costs[2:]) and costs[0] > max(costs[2:])
    curriculum = ArchSampler(space, plain_config(archs_per_step=4, warmup_epochs=3))
    first = [a for _ in range(10) for a in curriculum.archs(0, rng)]
    later = [a for _ in range(10) for a in curriculum.archs(3, rng)]
    widths = space.choices.stages[0].widths
    # Epoch 0 of 3 warm-up epochs keeps the largest quarter of each choice (at least one value).
    assert all(a.stages[0].width in widths[-2:] and len(a.stages[0].blocks) == 6 for a in first)
    assert any(a.stages[0].width not in widths[-2:] for a in later)


def test_training_learns_digits(digits):
    """Inherited-weight accuracy of random subnets rises far above chance (10%)."""
    space = small_vit()
    trainer = SupernetTrainer(space, digits, plain_config(epochs=6, batch_size=64, archs_per_step=4, lr=3e-3, seed=0))
    rng = random.Random(1)
    archs = [space.sample(rng) for _ in range(4)]
    before = [evaluate_subnet(trainer.supernet, a, digits.val) for a in archs]
    untrained = check_supernet(trainer.supernet, digits.val)
    result = trainer.train(show_progress=False)
    after = [evaluate_subnet(trainer.supernet, a, digits.val) for a in archs]
    assert result.steps == 6 * trainer.steps_per_epoch() and result.subnets_trained == 4 * result.steps
    assert max(before) < 0.3 and min(after) > 0.5
    # The health check tells the two apart: at chance before training, clearly above it after.
    trained = check_supernet(trainer.supernet, digits.val)
    assert not untrained.learned and trained.learned and trained.smallest > trained.threshold > trained.majority_rate
    assert untrained.majority_rate == majority_rate(digits.val) and 0.09 < untrained.majority_rate < 0.12  # ten balanced classes
    assert "supernet.epochs, now 6" in remedy(untrained, 6, 3e-3) and "supernet.lr (now 0.003)" in remedy(untrained, 6, 3e-3)


def test_resume_continues_exactly(digits, tmp_path):
    space = small_vit()
    config = plain_config(epochs=2, batch_size=256, archs_per_step=3, sandwich=True, warmup_epochs=1, seed=4)
    straight = SupernetTrainer(space, digits, config)
    straight.train(show_progress=False)
    interrupted = SupernetTrainer(space, digits, config)
    torch.manual_seed(123)  # resuming must not depend on the process's RNG state
    interrupted.train(show_progress=False, checkpoint_dir=tmp_path / "ckpt", stop_after=4)
    meta = json.loads((tmp_path / "ckpt" / "checkpoint.json").read_text())
    assert meta["position"] == {"phase": "supervised", "epoch": 0, "step": 4, "global_step": 4}
    assert meta["space"] == "vit-resnas" and meta["task"]["name"] == "digits" and meta["config"]["sandwich"] is True
    progress = checkpoint_progress(tmp_path / "ckpt")
    total = 2 * interrupted.steps_per_epoch()
    assert progress == {"phase": "supervised", "epochs_done": 0, "epochs": 2, "step": 4, "total_steps": total, "loss": pytest.approx(interrupted.last_loss), "health": None, "epoch_losses": []}
    assert describe_progress(progress).startswith(f"supervised: epoch 0/2 done, step 4/{total} (")
    assert checkpoint_progress(tmp_path / "no-checkpoint") is None
    assert set(load_file(tmp_path / "ckpt" / "optimizer.safetensors")) >= {"0.exp_avg", "0.exp_avg_sq"}
    resumed = SupernetTrainer.resume(tmp_path / "ckpt", digits)
    resumed.train(show_progress=False)
    for (name, a), b in zip(straight.supernet.state_dict().items(), resumed.supernet.state_dict().values()):
        assert torch.equal(a, b), name
    # The loss curve too, though the run stopped inside an epoch.
    assert [e["epoch"] for e in resumed.epoch_losses] == [1, 2] and resumed.epoch_losses == straight.epoch_losses
    finished = checkpoint_progress(resumed.save_checkpoint(tmp_path / "finished"))
    assert (finished["phase"], finished["step"]) == ("done", total)
    assert describe_progress(finished) == f"trained: {total} steps, loss {resumed.last_loss:.4f}"
    supernet, _ = load_supernet(tmp_path / "ckpt")  # the end-of-run checkpoint of the interrupted run
    assert supernet.task == digits.shape


def test_resume_rejects_a_different_task(digits, tmp_path):
    trainer = SupernetTrainer(small_vit(), digits, plain_config(epochs=1, batch_size=512, archs_per_step=2))
    trainer.save_checkpoint(tmp_path / "ckpt")
    other = load_task({"npz": str(_npz(tmp_path))}, workdir=tmp_path)
    with pytest.raises(ValueError, match="trained for task shape"):
        SupernetTrainer.resume(tmp_path / "ckpt", other)


def _npz(tmp_path):
    import numpy as np

    path = tmp_path / "tiny.npz"
    np.savez(path, images=np.random.default_rng(0).random((40, 1, 12, 12)), labels=np.arange(40) % 2)
    return path


def test_mlm_pretraining_then_classification(tmp_path):
    rows = [f"{'great' if i % 2 else 'awful'} movie with {'superb' if i % 2 else 'terrible'} acting number {i}" for i in range(400)]
    (tmp_path / "r.jsonl").write_text("".join(json.dumps({"text": t, "label": i % 2}) + "\n" for i, t in enumerate(rows)))
    task = load_task({"jsonl": str(tmp_path / "r.jsonl")}, workdir=tmp_path, vocab_size=120, max_len=16)
    space = get_space("flexibert", "nas-bench-bert", {"hidden": [128], "num_layers": [2], "ff_dims": [512], "ff_layers": [1]})
    trainer = SupernetTrainer(space, task, plain_config(epochs=6, mlm_epochs=2, batch_size=32, archs_per_step=4, lr=2e-3))
    arch = space.sample(random.Random(0))
    masked, targets = mask_tokens(task.val.inputs, 0.15, task.shape.vocab_size, torch.Generator().manual_seed(0))

    def mlm_loss() -> float:
        with torch.no_grad():
            logits = trainer.supernet.eval().mlm_logits(masked, arch)
            return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100).item()

    before = mlm_loss()
    trainer.train(show_progress=False, stop_after=2 * trainer.steps_per_epoch())
    assert trainer.position.phase == "supervised"
    assert mlm_loss() < 0.7 * before  # pretraining learned the task's text
    trainer.train(show_progress=False)
    assert trainer.position.phase == "done"
    rng = random.Random(1)
    accuracies = [evaluate_subnet(trainer.supernet, space.sample(rng), task.val) for _ in range(4)]
    assert sum(accuracies) / len(accuracies) >= 0.8, accuracies
    with pytest.raises(ValueError, match="needs a text task"):
        SupernetTrainer(small_vit(), load_task("digits", workdir=tmp_path), plain_config(mlm_epochs=1))


def test_mask_tokens_masks_only_real_tokens():
    ids = torch.tensor([[2] + list(range(5, 35)) + [3] + [0] * 32] * 64)
    inputs, targets = mask_tokens(ids, 0.15, 100, torch.Generator().manual_seed(0))
    chosen = targets != -100
    assert not chosen[ids < 5].any()
    share = chosen.sum().item() / (ids >= 5).sum().item()
    assert 0.12 < share < 0.18
    assert (inputs[chosen] == 4).float().mean() > 0.7  # mostly [MASK]
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_learning_rate_warms_up_then_decays():
    from nas.training.optim import learning_rate

    rates = [learning_rate(1.0, step, 100, 0.1) for step in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(rates[:10], rates[1:10]))  # rising during warm-up
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))  # then never rising
    assert rates[-1] < 0.01


def test_train_standalone_learns_an_extracted_subnet(digits):
    from nas.training.standalone import evaluate, train_standalone

    space = small_vit()
    arch = space.sample(random.Random(2))
    torch.manual_seed(0)
    model = train_standalone(space.build(arch, digits.shape), digits.train, epochs=4, lr=3e-3)
    assert evaluate(model, digits.val) > 0.7


def test_ranking_subnets_span_the_size_range():
    """The supernet benchmark's "range" spread runs from the space's smallest arch to its largest
    in even log-size steps; "quantiles" stays inside the sizes random archs have."""
    import itertools
    import math

    space, shape = get_space("vit-resnas", "small-images"), load_task("digits").shape
    rng = random.Random(0)
    smallest, largest = (space.cost(space.extreme(rng, largest=big), shape).params for big in (False, True))
    spans = {}
    for spread in SPREADS:
        archs = spread_by_size(space, shape, 12, spread)
        sizes = [space.cost(a, shape).params for a in archs]
        assert len({a.arch_id for a in archs}) == 12 and sizes == sorted(sizes)
        spans[spread] = sizes
    assert (spans["range"][0], spans["range"][-1]) == (smallest, largest)
    steps = [math.log(b / a) for a, b in itertools.pairwise(spans["range"])]
    assert max(steps) < 2 * min(steps)
    assert smallest < spans["quantiles"][0] and spans["quantiles"][-1] < largest


def test_training_sample_is_a_fixed_subset_of_the_training_split(digits):
    """The benchmark's under-fitting check compares inherited accuracy on this sample with
    validation accuracy, so it must be real training examples, the same ones every run."""
    sample = training_sample(digits, len(digits.val))
    again = training_sample(digits, len(digits.val))
    assert len(sample) == len(digits.val) and torch.equal(sample.inputs, again.inputs)
    training_rows = {(tuple(x.flatten().tolist()), y.item()) for x, y in zip(digits.train.inputs, digits.train.labels)}
    assert all((tuple(x.flatten().tolist()), y.item()) in training_rows for x, y in zip(sample.inputs, sample.labels))
    assert not torch.equal(sample.inputs, digits.train.inputs[: len(sample)])  # drawn, not the split's head


def test_reused_references_need_the_same_subnets_and_training_budget():
    references = json.loads((Path(__file__).parent / "data" / "flexibert_standalone_references.json").read_text())
    earlier = references["ranking"]["flexibert:nas-bench-bert/rotten-tomatoes"]
    task, params = earlier["task"], earlier["params"]
    held = len(earlier["standalone_val_accuracy_per_seed"][0])
    more_seeds = {**earlier["standalone_budget"], "seeds": held + 1}  # the run trains only the missing seed
    assert reused_references(earlier, task, params, more_seeds) == earlier["standalone_val_accuracy_per_seed"]
    with pytest.raises(ValueError, match=r"differs in \['standalone_budget'\]"):
        reused_references(earlier, task, params, {**more_seeds, "epochs": 4})
    with pytest.raises(ValueError, match=r"differs in \['task', 'params'\]"):
        reused_references(earlier, {**task, "max_len": 64}, params[1:], more_seeds)


@pytest.mark.parametrize("distill", [True, False])
def test_in_place_distillation_teaches_the_other_subnets_from_the_largest(digits, distill: bool) -> None:
    """With distillation the labels reach the supernet only through the largest subnet, trained
    on the whole batch: relabelling the students' examples changes the step's gradient exactly as
    it changes the largest subnet's own gradient on the whole batch; without it, the students'
    slices add their own label terms."""
    space = get_space("vit-resnas", "small-images", SMALL_VIT)
    config = plain_config(archs_per_step=3, sandwich=True, distill=distill, batch_size=12, grad_clip=0.0)
    inputs, labels = digits.train.inputs[:12], digits.train.labels[:12]
    relabelled = labels.clone()
    relabelled[4:] = (labels[4:] + 1) % 10  # beyond the first third: the students' examples

    def gradient(targets: torch.Tensor, teacher_only: bool) -> torch.Tensor:
        trainer = SupernetTrainer(space, digits, config)
        archs = trainer.sampler.archs(0, random.Random(0))
        torch.manual_seed(0)
        trainer.train_step(inputs, targets, archs[:1] if teacher_only else archs, "supervised", torch.Generator().manual_seed(0))
        return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in trainer.supernet.parameters()])

    step_change = gradient(labels, False) - gradient(relabelled, False)
    teacher_change = gradient(labels, True) - gradient(relabelled, True)
    assert teacher_change.abs().max() > 1e-4  # the relabelling reaches the teacher's whole-batch loss
    assert torch.allclose(step_change, teacher_change, atol=1e-6) is distill


def test_distillation_needs_the_sandwich_rule() -> None:
    with pytest.raises(ValueError, match="distill: needs sandwich"):
        plain_config(archs_per_step=2, sandwich=False, distill=True)
