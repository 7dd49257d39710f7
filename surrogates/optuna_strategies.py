"""Optuna's TPE and NSGA-II as baselines, through Optuna's ask/tell API on the space's
categorical encoding (the flat `path -> value` choices; a list's items are asked only below
the length suggested for it).

The study is rebuilt from the observations at every `propose` (cheap at NAS budgets), which keeps
the strategy replay-exact. A suggestion that is not a valid, unevaluated architecture (TPE picks
each choice on its own, e.g. a different hidden size per layer where the preset has one) snaps to
the nearest free candidate in Hamming distance.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from search_spaces import Architecture, SearchSpace
from surrogates.base import Objective, Strategy
from surrogates.encoding import flat_choices, nearest_by_hamming

optuna.logging.set_verbosity(optuna.logging.WARNING)
_INDEX = re.compile(r"\[(\d+)\]")


class OptunaStrategy(Strategy):
    """sampler: "tpe" (single objective) or "nsga2" (also minimises `secondary` objectives)."""

    def __init__(
        self, space: SearchSpace, pool: Sequence[Architecture] | None = None, *, sampler: str = "tpe", secondary: Sequence[Objective] = (), candidates: int = 2000, **common: Any
    ):
        super().__init__(space, pool, **common)
        if sampler not in ("tpe", "nsga2"):
            raise ValueError(f"sampler: {sampler!r} not in {{'tpe', 'nsga2'}}")
        self.sampler_name, self.secondary, self.candidates = sampler, list(secondary), candidates
        self.name = f"optuna-{sampler}"
        reference = self.pool if self.pool is not None else [space.sample(random.Random(self.seed)) for _ in range(candidates)]
        values: dict[str, set[Any]] = {}
        for arch in reference:
            for path, value in flat_choices(arch).items():
                values.setdefault(path, set()).add(value)
        # Lengths before the items they govern: paths sorted by (depth of nesting, text).
        self.distributions = {path: CategoricalDistribution(sorted(v, key=repr)) for path, v in sorted(values.items(), key=lambda kv: (kv[0].count("["), kv[0]))}

    def _study(self, rng: random.Random) -> optuna.Study:
        objectives = [self.objective, *self.secondary]
        directions = ["maximize" if o.maximize else "minimize" for o in objectives]
        seed = rng.getrandbits(31)
        if self.sampler_name == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=10, constant_liar=True)
        else:
            sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=20)
        study = optuna.create_study(directions=directions, sampler=sampler)
        for arch, metrics in self.observed.values():
            params = {p: v for p, v in flat_choices(arch).items() if p in self.distributions and v in self.distributions[p].choices}
            study.add_trial(
                create_trial(
                    params=params,
                    distributions={p: self.distributions[p] for p in params},
                    values=[float(metrics[o.metric]) for o in objectives],
                    state=TrialState.COMPLETE,
                )
            )
        return study

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Define-by-run: a list item is asked only if its index is below the list's length."""
        chosen: dict[str, Any] = {}
        for path, distribution in self.distributions.items():
            if not self._reachable(path, chosen):
                continue
            chosen[path] = trial.suggest_categorical(path, distribution.choices)
        return chosen

    @staticmethod
    def _reachable(path: str, chosen: dict[str, Any]) -> bool:
        for match in _INDEX.finditer(path):
            length_path = path[: match.start()] + ".length"
            if length_path in chosen and int(match.group(1)) >= chosen[length_path]:
                return False
        return True

    def propose(self, n: int, taken: set[str], pending: list[Architecture], rng: random.Random) -> list[Architecture]:
        study = self._study(rng)
        free = self.fresh_random(self.candidates, taken, rng) if self.pool is None else [a for a in self.pool if a.arch_id not in taken]
        free_flat = {a.arch_id: flat_choices(a) for a in free}
        out: dict[str, Architecture] = {}
        for _ in range(n):
            trial = study.ask()
            wanted = self.suggest(trial)
            pick = nearest_by_hamming(wanted, [a for a in free if a.arch_id not in out], free_flat, rng)
            if pick is None:
                break
            out[pick.arch_id] = pick
        return list(out.values())
