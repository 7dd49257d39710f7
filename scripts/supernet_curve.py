"""The supernet health check after every epoch of a default schedule: how fast a supernet learns
on a task with the spec's defaults (docs/benchmarks/supernet.md, "Default epochs by steps").

    python scripts/supernet_curve.py digits vit-resnas
    python scripts/supernet_curve.py fashion-mnist vit-resnas --max-train 2000
    python scripts/supernet_curve.py rotten-tomatoes flexibert --max-train 2000 --set lr=0.001 --set batch_size=64
    python scripts/supernet_curve.py '{"generate": "recall", "examples": 8000}' flexibert --preset nas-bench-bert --epochs 10
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nas.job.schema import SupernetSpec  # noqa: E402
from nas.tasks.data import load_task  # noqa: E402
from nas.training.config import TrainConfig  # noqa: E402
from nas.training.health import check_supernet  # noqa: E402
from nas.training.trainer import SupernetTrainer  # noqa: E402
from search_spaces import get_space  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", help="a built-in task's name, or a task spec as JSON (a generated task)")
    parser.add_argument("space")
    parser.add_argument("--preset", help="the space's preset (default: its default)")
    parser.add_argument("--max-train", type=int)
    parser.add_argument("--epochs", type=int, help="default: the spec's (enough for 300 steps)")
    parser.add_argument("--set", action="append", default=[], help="a supernet setting, e.g. lr=0.001 (JSON value)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = SupernetSpec(epochs=args.epochs, max_train=args.max_train, **{k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)})
    task = json.loads(args.task) if args.task.startswith("{") else args.task
    data = load_task(task, seed=0, max_train=args.max_train)
    config = TrainConfig.from_spec(settings, data.kind, seed=0, device="cpu", train_examples=len(data.train))
    trainer = SupernetTrainer(get_space(args.space, args.preset), data, config)
    print(f"{data.name}: {len(data.train)} training examples, {trainer.steps_per_epoch()} steps an epoch, {config}", flush=True)
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        trainer.train(show_progress=False, stop_after=trainer.steps_per_epoch())
        health = check_supernet(trainer.supernet, data.val)
        print(
            f"epoch {epoch} step {trainer.position.global_step} loss {trainer.last_loss:.3f} largest {health.largest:.3f} "
            f"smallest {health.smallest:.3f} majority {health.majority_rate:.3f} threshold {health.threshold:.3f} {time.perf_counter() - started:.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
