"""BOSHNAS (Tuli et al., FlexiBERT, JAIR 2023): Bayesian optimisation with a second-order,
heteroscedastic surrogate over graph embeddings of architectures.

Surrogate, on the features x of an architecture (graph embedding + exact log params / FLOPs +
one-hot choices, standardised; see surrogates/features.py):
- teacher: an MLP with dropout; Monte-Carlo dropout gives its epistemic spread;
- student: an MLP trained to predict the teacher's spread, so the spread costs one forward pass
  (and is differentiable) during the acquisition search;
- aleatoric network: an MLP that outputs a mean and a variance, trained with the Gaussian
  negative log-likelihood (heteroscedastic training noise; NAS-Bench-BERT repeats disagree by
  ~0.6 GLUE).
Acquisition: UCB = mu + k1 * sigma_epistemic + k2 * sigma_aleatoric.
GOBI: the acquisition is maximised over the input embedding with L-BFGS (a quasi-Newton,
second-order method) from several starts, then snapped to the nearest unevaluated candidate
(pool member, or a sampled architecture of the open space). With set probabilities a pick is
made by pure epistemic uncertainty or at random (diversity) instead. A batch (n > 1) penalises
candidates near the pending and already-picked ones, so parallel workers get distinct archs.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from search_spaces import Architecture, SearchSpace, TaskShape
from surrogates.base import ModelBasedStrategy
from surrogates.embedding import GraphEmbedding
from surrogates.encoding import OneHotEncoder
from surrogates.features import Standardizer, SurrogateFeatures, clip_low_outliers


def mlp(inputs: int, outputs: int, hidden: int = 64, dropout: float = 0.0) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, outputs)
    )  # fmt: skip


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run tiny-network work on one intra-op thread: at these sizes (a few hundred rows, 64 units)
    thread hand-offs cost more than they save, badly so on a machine busy with evaluations."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def fit(jobs: Sequence[tuple[nn.Module, Callable[[nn.Module], torch.Tensor]]], epochs: int, lr: float = 3e-3) -> None:
    """Full-batch Adam on each (network, loss) pair. Independent networks are stepped in one loop
    (the sum of their losses, one backward, one optimizer): each gets exactly the updates it would
    alone, for one loop's overhead."""
    models = [model for model, _ in jobs]
    # Fused Adam: one kernel per step instead of a dozen small ones (full-batch steps are tiny).
    optimizer = torch.optim.Adam([p for model in models for p in model.parameters()], lr=lr, weight_decay=1e-4, fused=True)
    for model in models:
        model.train()
    for _ in range(epochs):
        optimizer.zero_grad()
        sum(loss_fn(model) for model, loss_fn in jobs).backward()
        optimizer.step()


class BoshnasSurrogate:
    """The three networks, fit on standardised inputs and targets: the teacher (mean, with
    dropout for its Monte-Carlo spread), the student (that spread, without sampling) and the
    aleatoric network (mean and log-variance). Every input is `(n, dim)` float32: n architectures'
    feature rows (`surrogates.features.SurrogateFeatures`), standardised."""

    # 150 full-batch epochs: held-out tau is the same from 100 to 300 epochs, at half the cost of
    # 300 (docs/benchmarks/search.md).
    def __init__(self, dim: int, dropout: float = 0.2, mc_samples: int = 30, epochs: int = 150):
        self.teacher = mlp(dim, 1, dropout=dropout)
        self.student = mlp(dim, 1)
        self.aleatoric = mlp(dim, 2)
        self.mc_samples, self.epochs = mc_samples, epochs

    def fit(self, x: torch.Tensor, y: torch.Tensor, probe: torch.Tensor) -> None:
        """x `(n, dim)`, y `(n,)`: the observations; probe `(m, dim)`: inputs (observed and
        candidates) on which the student learns the teacher's Monte-Carlo spread."""

        def nll(m: nn.Module) -> torch.Tensor:
            mean, log_var = m(x).unbind(-1)
            return torch.nn.functional.gaussian_nll_loss(mean, y, log_var.exp() + 1e-4)

        fit([(self.teacher, lambda m: ((m(x).squeeze(-1) - y) ** 2).mean()), (self.aleatoric, nll)], self.epochs)
        spread = self.mc_spread(probe)
        # The student regresses a fixed, smooth target: half the epochs reach the same fit.
        fit([(self.student, lambda m: ((self.epistemic(m(probe)) - spread) ** 2).mean())], self.epochs // 2)
        for net in (self.teacher, self.student, self.aleatoric):
            net.eval()

    @torch.no_grad()
    def mc_spread(self, x: torch.Tensor) -> torch.Tensor:
        """`(n,)`: the standard deviation of `mc_samples` dropout passes of the teacher over x `(n, dim)`."""
        self.teacher.train()  # dropout on
        samples = torch.stack([self.teacher(x).squeeze(-1) for _ in range(self.mc_samples)])
        self.teacher.eval()
        return samples.std(0)

    @staticmethod
    def epistemic(student_output: torch.Tensor) -> torch.Tensor:
        """The student's positive spread estimate, `(n, 1)` -> `(n,)`; trained and read through the
        same map, so sigma_epistemic is on the scale of the teacher's Monte-Carlo spread."""
        return torch.nn.functional.softplus(student_output.squeeze(-1))

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(mean, epistemic sigma, aleatoric sigma), each `(n,)` for x `(n, dim)`; differentiable in x."""
        mean = self.teacher(x).squeeze(-1)
        epistemic = self.epistemic(self.student(x))
        aleatoric = self.aleatoric(x)[..., 1].exp().sqrt()
        return mean, epistemic, aleatoric


class Boshnas(ModelBasedStrategy):
    name = "boshnas"

    def __init__(
        self,
        space: SearchSpace,
        pool: Sequence[Architecture] | None = None,
        *,
        embedding: GraphEmbedding | None = None,
        task: TaskShape | None = None,
        initial: int = 10,
        # No bonus for aleatoric noise: archs whose trainings disagree are not better ones. Chosen
        # on NAS-Bench-BERT seeds and confirmed on others (docs/benchmarks/search.md).
        k1: float = 0.25,
        k2: float = 0.0,
        p_uncertainty: float = 0.05,
        p_diversity: float = 0.0,
        starts: int = 5,
        candidates: int = 1000,
        max_fit: int = 300,
        max_probe: int = 512,
        # One-hot choices as extra inputs: the networks can weigh single choices the embedding
        # blurs, which finds the very best archs sooner (docs/benchmarks/search.md).
        one_hot: bool = True,
        **common: Any,
    ):
        super().__init__(space, pool, initial=initial, candidates=candidates, **common)
        encoder = OneHotEncoder.for_space(space, self.pool, self.seed) if one_hot else None
        self.features = SurrogateFeatures(space, embedding, task, seed=self.seed, one_hot=encoder)
        self.k1, self.k2, self.p_uncertainty, self.p_diversity, self.starts = k1, k2, p_uncertainty, p_diversity, starts
        # Fitting cost grows with rows x epochs: the networks see at most `max_fit` observations
        # (the best half and a random rest) and the student at most `max_probe` candidates.
        self.max_fit, self.max_probe = max_fit, max_probe

    def pick(self, n: int, free: list[Architecture], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        archs, scores = zip(*self.fit_set(self.max_fit, rng))
        raw_x = self.features(list(archs))
        standardize = Standardizer(raw_x)
        x = torch.tensor(standardize(raw_x), dtype=torch.float32)
        cand = torch.tensor(standardize(self.features(free)), dtype=torch.float32)
        y_raw = torch.tensor(clip_low_outliers(np.array(scores)), dtype=torch.float32)
        y = (y_raw - y_raw.mean()) / (y_raw.std() + 1e-6)
        with torch.random.fork_rng(), one_thread():
            torch.manual_seed(rng.getrandbits(31))
            surrogate = BoshnasSurrogate(x.shape[1])
            probe_rows = sorted(rng.sample(range(len(cand)), min(len(cand), self.max_probe)))
            surrogate.fit(x, y, torch.cat([x, cand[probe_rows]]))
            avoid = torch.tensor(standardize(self.features(pending)), dtype=torch.float32) if pending else torch.zeros((0, x.shape[1]))
            picks: list[int] = []
            for _ in range(n):
                index = self._pick(surrogate, cand, avoid, picks, rng)
                picks.append(index)
                avoid = torch.cat([avoid, cand[index : index + 1]])
        return [free[i] for i in picks]

    def _pick(self, surrogate: BoshnasSurrogate, cand: torch.Tensor, avoid: torch.Tensor, picked: list[int], rng: random.Random) -> int:
        """The row of `cand` `(c, dim)` to evaluate next, away from `avoid` `(a, dim)` (pending and
        already picked points) and not in `picked`."""
        open_rows = [i for i in range(len(cand)) if i not in picked]
        roll = rng.random()
        if roll < self.p_diversity:
            return rng.choice(open_rows)
        with torch.no_grad():
            mean, epistemic, aleatoric = surrogate.parts(cand)
            score = epistemic if roll < self.p_diversity + self.p_uncertainty else mean + self.k1 * epistemic + self.k2 * aleatoric
            score = self._penalised(score, cand, avoid)
        if roll < self.p_diversity + self.p_uncertainty:
            return max(open_rows, key=lambda i: score[i].item())
        target = self._gobi(surrogate, cand, score, open_rows)
        # Snap: the free candidate nearest to the optimum, preferring high acquisition on ties.
        distance = ((cand[open_rows] - target) ** 2).sum(-1)
        return open_rows[int(torch.argmin(distance - 1e-6 * score[open_rows]))]

    def _gobi(self, surrogate: BoshnasSurrogate, cand: torch.Tensor, score: torch.Tensor, open_rows: list[int]) -> torch.Tensor:
        """Maximise UCB over the embedding with L-BFGS from the best candidates, inside their box;
        `(dim,)`: the best end point (cand `(c, dim)`, score `(c,)`).
        The starts are optimised together (the objective is their sum, so each start's gradient is
        its own): one batched run costs about what one start alone did."""
        starts = sorted(open_rows, key=lambda i: -score[i].item())[: self.starts]
        low, high = cand.min(0).values, cand.max(0).values
        z = cand[starts].clone().requires_grad_(True)
        # 10 iterations: more did not change the snapped candidate (docs/benchmarks/search.md).
        optimizer = torch.optim.LBFGS([z], lr=0.5, max_iter=10, line_search_fn="strong_wolfe")

        def ucb(points: torch.Tensor) -> torch.Tensor:
            mean, epistemic, aleatoric = surrogate.parts(points)
            return mean + self.k1 * epistemic + self.k2 * aleatoric

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = -ucb(z).sum()
            loss.backward()
            return loss

        optimizer.step(closure)
        with torch.no_grad():
            ends = torch.maximum(torch.minimum(z, high), low)
            return ends[int(torch.argmax(ucb(ends)))]

    @staticmethod
    def _penalised(score: torch.Tensor, cand: torch.Tensor, avoid: torch.Tensor, radius: float = 1.0) -> torch.Tensor:
        """Lower the acquisition near pending and picked points (local penalisation): score `(c,)`
        of cand `(c, dim)`, avoid `(a, dim)`; `(c,)`."""
        if len(avoid) == 0:
            return score
        distance = torch.cdist(cand, avoid).min(-1).values
        shifted = score - score.min() + 1e-6
        return shifted * (1 - torch.exp(-(distance**2) / (2 * radius**2)))
