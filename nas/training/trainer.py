"""Training a weight-sharing supernet on a task.

Each optimizer step trains `archs_per_step` subnets, each on its own slice of the batch
(multi-architectural sampling); gradients of all slices accumulate into the shared tensors and one
update follows. Options: the sandwich rule (largest + smallest + random subnets), a warm-up
curriculum (the choice sets start at their largest values and widen epoch by epoch), and for text
tasks masked-language-model pretraining on the task's own training text before the supervised
phase.

Every random draw is seeded from (seed, phase, epoch, step), so a run resumed from a checkpoint
continues exactly as if it had never stopped.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from safetensors.torch import load_file, save_file

from nas.tasks.data import TaskData
from nas.tasks.tokenizer import MASK_ID
from nas.training.checkpoint import CHECKPOINT_FORMAT, META_FILE, TOKENIZER_FILE, read_checkpoint_meta
from nas.training.config import TrainConfig
from nas.training.distributed import Shard
from nas.training.optim import adamw, learning_rate
from search_spaces import Architecture, SearchSpace, get_space
from search_spaces.supernet import Supernet

PHASES = ("mlm", "supervised")


@dataclass
class Position:
    """Where training stands: the next step to run."""

    phase: str = PHASES[0]
    epoch: int = 0
    step: int = 0  # within the epoch
    global_step: int = 0


@dataclass
class TrainResult:
    steps: int
    subnets_trained: int
    seconds: float
    last_loss: float
    peak_rss_mb: float

    @property
    def subnets_per_second(self) -> float:
        return self.subnets_trained / self.seconds if self.seconds else 0.0


def step_rng(seed: int, *where: Any) -> random.Random:
    return random.Random(":".join(str(w) for w in (seed, *where)))


def peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux, VmHWM belongs to the current address space;
    ru_maxrss would also count a parent's size at fork (it survives fork and exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class ArchSampler:
    """Chooses the subnets of each step (curriculum and sandwich rule applied)."""

    def __init__(self, space: SearchSpace, config: TrainConfig):
        self.space, self.config = space, config

    def space_for(self, epoch: int) -> SearchSpace:
        warmup = self.config.warmup_epochs
        if epoch >= warmup:
            return self.space
        return self.space.narrowed((epoch + 1) / (warmup + 1), largest=True)

    def archs(self, epoch: int, rng: random.Random) -> list[Architecture]:
        space = self.space_for(epoch)
        n = self.config.archs_per_step
        fixed = [self.space.extreme(rng, largest=True), self.space.extreme(rng, largest=False)] if self.config.sandwich else []
        return fixed + [space.sample(rng) for _ in range(n - len(fixed))]


def mask_tokens(input_ids: torch.Tensor, prob: float, vocab_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style masking: of a `prob` share of the real tokens, 80% become [MASK], 10% a random
    token, 10% stay. Returns (inputs, targets with -100 where no prediction is asked)."""
    special = input_ids < 5  # [PAD] [UNK] [CLS] [SEP] [MASK]
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & ~special
    targets = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    roll = torch.rand(input_ids.shape, generator=generator)
    inputs = input_ids.clone()
    inputs[chosen & (roll < 0.8)] = MASK_ID
    random_tokens = torch.randint(5, vocab_size, input_ids.shape, generator=generator)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_tokens[swap]
    return inputs, targets


class SupernetTrainer:
    def __init__(self, space: SearchSpace, task: TaskData, config: TrainConfig, supernet: Supernet | None = None, shard: Shard | None = None):
        if config.mlm_epochs and task.kind != "text":
            raise ValueError(f"mlm_epochs: masked-language-model pretraining needs a text task; {task.name!r} is an image task")
        self.space, self.task, self.config = space, task, config
        self.shard = shard  # data-parallel: this worker's share of each step (None: all of it)
        self.device = config.resolved_device()
        if supernet is None:
            with torch.random.fork_rng(devices=[]):  # same seed, same initial weights
                torch.manual_seed(config.seed)
                supernet = space.supernet(task.shape)
        self.supernet = supernet.to(self.device)
        self.optimizer = adamw(self.supernet.parameters(), self.device, lr=config.lr, weight_decay=config.weight_decay)
        self.sampler = ArchSampler(space, config)
        self.position = Position(phase=self._phases()[0] if self._phases() else PHASES[-1])
        self.last_loss: float | None = None  # the latest step's loss, recorded in checkpoints
        self.health: dict[str, Any] | None = None  # the latest epoch-end check's figures, recorded in checkpoints
        # Mean loss of each finished epoch ({"phase", "epoch", "loss"}), and the sum and count of
        # the epoch under way: a checkpoint keeps both, so a resumed run's curve is the same.
        self.epoch_losses: list[dict[str, Any]] = []
        self._epoch_loss: tuple[float, int] = (0.0, 0)

    def _phases(self) -> list[str]:
        return [p for p in PHASES if (self.config.mlm_epochs if p == "mlm" else self.config.epochs) > 0]

    def _epochs(self, phase: str) -> int:
        return self.config.mlm_epochs if phase == "mlm" else self.config.epochs

    def steps_per_epoch(self) -> int:
        return -(-len(self.task.train) // self.config.batch_size)

    def total_steps(self) -> int:
        return sum(self._epochs(p) for p in self._phases()) * self.steps_per_epoch()

    # ---- one step ----
    def train_step(self, inputs: torch.Tensor, labels: torch.Tensor, archs: list[Architecture], phase: str, generator: torch.Generator) -> float:
        """Each subnet on its own slice of the batch; gradients accumulate (across the workers too,
        when data-parallel); one update."""
        self.supernet.train()
        self.optimizer.zero_grad(set_to_none=True)
        total, count = 0.0, len(inputs)
        pairs = self._step_pairs(inputs, labels, archs, phase)
        for x, y, arch in self.shard.mine(pairs) if self.shard else pairs:
            if len(x) == 0:
                continue
            if phase == "mlm":
                masked, targets = mask_tokens(x, self.config.mask_prob, self.task.shape.vocab_size, generator)
                logits = self.supernet.mlm_logits(masked.to(self.device), arch)
                loss = F.cross_entropy(logits.flatten(0, 1), targets.to(self.device).flatten(), ignore_index=-100)
            elif self.config.distill and arch is not archs[0]:  # archs[0]: the sandwich's largest subnet, the teacher
                loss = self._distillation_loss(x.to(self.device), arch, archs[0])
            else:
                loss = F.cross_entropy(self.supernet(x.to(self.device), arch), y.to(self.device))
            (loss * len(x) / count).backward()
            total += loss.item() * len(x) / count
        if self.shard:
            total = self.shard.all_reduce_gradients(self.supernet.parameters(), total)
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.config.lr, self.position.global_step, self.total_steps(), self.config.lr_warmup)
        self.optimizer.step()
        return total

    def _step_pairs(self, inputs: torch.Tensor, labels: torch.Tensor, archs: list[Architecture], phase: str) -> list[tuple[torch.Tensor, torch.Tensor, Architecture]]:
        """(inputs, labels, subnet) of each subnet's part of the step: its own slice of the batch.
        With distillation (BigNAS-style) the teacher, archs[0], trains on the whole batch and the
        students share it out: a teacher that saw only its slice learned from a quarter of the
        labels while the students pulled the shared weights towards its untrained predictions,
        and the digits supernet stayed at chance (docs/benchmarks/results.md)."""
        if self.config.distill and phase != "mlm" and len(archs) > 1:
            students = archs[1:]
            return [(inputs, labels, archs[0]), *zip(torch.tensor_split(inputs, len(students)), torch.tensor_split(labels, len(students)), students)]
        return list(zip(torch.tensor_split(inputs, len(archs)), torch.tensor_split(labels, len(archs)), archs))

    def _distillation_loss(self, x: torch.Tensor, student: Architecture, teacher: Architecture) -> torch.Tensor:
        """KL divergence of the student subnet's predictions from the teacher's on the same
        inputs; the teacher runs without dropout and without gradient."""
        with torch.no_grad():
            self.supernet.eval()
            targets = F.softmax(self.supernet(x, teacher), dim=-1)
            self.supernet.train()
        return F.kl_div(F.log_softmax(self.supernet(x, student), dim=-1), targets, reduction="batchmean")

    # ---- the loop ----
    def train(
        self,
        show_progress: bool = True,
        checkpoint_dir: Path | None = None,
        checkpoint_every: int = 0,
        stop_after: int | None = None,
        epoch_check: Callable[[Supernet], dict[str, Any]] | None = None,
        on_checkpoint: Callable[[Path], None] | None = None,
    ) -> TrainResult:
        """Train from the current position to the end (or `stop_after` more steps), saving a
        checkpoint every `checkpoint_every` steps and at the end when `checkpoint_dir` is given
        (then `on_checkpoint(checkpoint_dir)`, e.g. to publish it to the artifact root).
        `epoch_check(supernet)` runs after each supervised epoch; its figures go into the next
        checkpoint, so progress readers see whether the supernet is learning."""
        start, subnets, steps, loss = time.perf_counter(), 0, 0, float("nan")
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[rate]:.1f} subnets/s"), TimeElapsedColumn()]
        with Progress(*columns, console=Console(stderr=True), disable=not show_progress, transient=False) as progress:
            bar = progress.add_task("supernet", total=self.total_steps(), completed=self._completed_steps(), loss=float("nan"), rate=0.0)
            while self.position.phase in self._phases() and (stop_after is None or steps < stop_after):
                pos = self.position
                progress.update(bar, description=f"{pos.phase} epoch {pos.epoch + 1}/{self._epochs(pos.phase)}")
                inputs, labels = self._batch(pos)
                rng = step_rng(self.config.seed, pos.phase, pos.epoch, pos.step)
                generator = torch.Generator().manual_seed(rng.getrandbits(63))
                torch.manual_seed(rng.getrandbits(63))  # dropout
                archs = self.sampler.archs(pos.epoch, rng)
                phase = pos.phase  # `pos` is the live position: _advance moves it on
                loss = self.last_loss = self.train_step(inputs, labels, archs, phase, generator)
                steps += 1
                subnets += min(len(archs), len(inputs))
                epoch = pos.epoch
                self._epoch_loss = (self._epoch_loss[0] + loss, self._epoch_loss[1] + 1)
                self._advance()
                if self.position.step == 0:  # an epoch ended
                    self.epoch_losses.append({"phase": phase, "epoch": epoch + 1, "loss": self._epoch_loss[0] / self._epoch_loss[1]})
                    self._epoch_loss = (0.0, 0)
                elapsed = time.perf_counter() - start
                progress.update(bar, advance=1, loss=loss, rate=subnets / elapsed)
                if epoch_check is not None and phase == "supervised" and self.position.step == 0:  # an epoch ended
                    self.health = epoch_check(self.supernet)
                if checkpoint_dir is not None and checkpoint_every and self.position.global_step % checkpoint_every == 0:
                    self._checkpoint(checkpoint_dir, on_checkpoint)
        if checkpoint_dir is not None:
            self._checkpoint(checkpoint_dir, on_checkpoint)
        return TrainResult(steps=steps, subnets_trained=subnets, seconds=time.perf_counter() - start, last_loss=loss, peak_rss_mb=peak_rss_mb())

    def _checkpoint(self, directory: Path, on_checkpoint: Callable[[Path], None] | None) -> None:
        self.save_checkpoint(directory)
        if on_checkpoint is not None:
            on_checkpoint(directory)

    def _completed_steps(self) -> int:
        return self.position.global_step

    def _batch(self, pos: Position) -> tuple[torch.Tensor, torch.Tensor]:
        order = torch.randperm(len(self.task.train), generator=torch.Generator().manual_seed(step_rng(self.config.seed, pos.phase, pos.epoch).getrandbits(63)))
        idx = order[pos.step * self.config.batch_size : (pos.step + 1) * self.config.batch_size]
        return self.task.train.inputs[idx], self.task.train.labels[idx]

    def _advance(self) -> None:
        pos = self.position
        pos.step += 1
        pos.global_step += 1
        if pos.step >= self.steps_per_epoch():
            pos.step, pos.epoch = 0, pos.epoch + 1
            if pos.epoch >= self._epochs(pos.phase):
                phases = self._phases()
                later = phases[phases.index(pos.phase) + 1 :]
                pos.phase, pos.epoch = (later[0], 0) if later else ("done", 0)

    # ---- checkpoints ----
    def save_checkpoint(self, directory: Path) -> Path:
        """supernet.safetensors, optimizer.safetensors and checkpoint.json, replaced atomically."""
        directory = Path(directory)
        partial = directory.with_name(directory.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        save_file({k: v.detach().contiguous().cpu() for k, v in self.supernet.state_dict().items()}, partial / "supernet.safetensors")
        opt_state = self.optimizer.state_dict()
        tensors, scalars = {}, {}
        for index, state in opt_state["state"].items():
            for name, value in state.items():
                if torch.is_tensor(value) and value.dim() > 0:
                    tensors[f"{index}.{name}"] = value.detach().contiguous().cpu()
                else:
                    scalars[f"{index}.{name}"] = float(value)
        save_file(tensors, partial / "optimizer.safetensors")
        meta = {
            "format": CHECKPOINT_FORMAT,
            "space": self.space.name,
            "preset": self.space.preset,
            "choices": json.loads(json.dumps(dataclasses.asdict(self.space.choices))),
            "task": {"name": self.task.name, "shape": dataclasses.asdict(self.task.shape), "kind": self.task.kind, "source": self.task.source},
            "config": dataclasses.asdict(self.config),
            "position": dataclasses.asdict(self.position),
            "progress": {  # total_steps needs the task's size
                "total_steps": self.total_steps(), "loss": self.last_loss, "health": self.health,
                "epoch_losses": self.epoch_losses, "epoch_loss_so_far": list(self._epoch_loss),
            },  # fmt: skip
            "optimizer": {"param_groups": opt_state["param_groups"], "scalars": scalars},
        }
        if self.task.tokenizer_path is not None:  # the checkpoint carries its tokenizer to other nodes
            shutil.copyfile(self.task.tokenizer_path, partial / TOKENIZER_FILE)
        (partial / META_FILE).write_text(json.dumps(meta, indent=2))
        if directory.exists():
            old = directory.with_name(directory.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(directory, old)
            os.replace(partial, directory)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(partial, directory)
        return directory

    @classmethod
    def resume(cls, directory: Path, task: TaskData, device: str | None = None, shard: Shard | None = None) -> SupernetTrainer:
        """A trainer at the checkpoint's position, with its weights and optimizer state."""
        directory = Path(directory)
        meta = read_checkpoint_meta(directory)
        if dataclasses.asdict(task.shape) != meta["task"]["shape"]:
            raise ValueError(f"{directory}: checkpoint was trained for task shape {meta['task']['shape']}, got {dataclasses.asdict(task.shape)}")
        space = get_space(meta["space"], meta["preset"], meta["choices"])
        config = TrainConfig(**{**meta["config"], **({"device": device} if device else {})})
        trainer = cls(space, task, config, shard=shard)
        trainer.supernet.load_state_dict(load_file(directory / "supernet.safetensors", device=str(trainer.device)))
        tensors = load_file(directory / "optimizer.safetensors", device=str(trainer.device))
        state: dict[int, dict[str, Any]] = {}
        for key, value in list(tensors.items()) + list(meta["optimizer"]["scalars"].items()):
            index, name = key.split(".", 1)
            state.setdefault(int(index), {})[name] = value if torch.is_tensor(value) else torch.tensor(value)
        trainer.optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
        trainer.position = Position(**meta["position"])
        trainer.last_loss, trainer.health = meta["progress"].get("loss"), meta["progress"].get("health")
        trainer.epoch_losses = list(meta["progress"].get("epoch_losses", []))
        so_far = meta["progress"].get("epoch_loss_so_far", [0.0, 0])
        trainer._epoch_loss = (float(so_far[0]), int(so_far[1]))
        return trainer
