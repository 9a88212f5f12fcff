"""How fast this machine runs jobs compared with the cost model: :class:`MachineSpeed`, and the probe that starts it.

The cost model (:mod:`lengen_core.costs`) is a fit made on one machine; the CPU
model varies between machines by 2x or more. :class:`MachineSpeed` holds ratios,
measured seconds over the model's seconds, one for training and one for the
length sweep, and scales every estimate by them. It starts from a short probe
(:func:`probe_training`: a few steps of a small dense run, timed) and follows each
finished job (:func:`observe_finished_run`).

The ratios are kept per family of runs (:func:`family_of`: the attention kind and
the task), because the model's error differs by family more than machines differ:
on the development machine it misjudged the HSA reference path by 2.6x and dense
runs of different tasks by 0.7-1.4x (docs/benchmarks.md). With one ratio for all
runs, the HSA lesson's runs moved it enough to throw the next dense estimate off by
2x; with one per attention kind, the lesson's dense passkey run still did. A family
not measured yet uses the median of the families measured so far (the probe's
among them): the machine's speed, robust to one family the model misjudges.

Our choices: each observation moves a ratio a third of the way (:data:`FOLLOW`),
so one unusual job shifts the estimate without taking it over; a ratio stays
within :data:`RATIO_RANGE`, so a job the model misjudges badly cannot make every
later estimate absurd. A ratio with no observation yet stays 1.0.
"""

from __future__ import annotations

import functools
import statistics
import threading
import time
from dataclasses import dataclass

from lengen_core.config import RunConfig
from lengen_core.costs import Budget, CostEstimate, estimate_cost
from lengen_core.store import RunStore

FOLLOW = 1 / 3
RATIO_RANGE = (0.1, 10.0)
PROBE_CHANGES = {"train.steps": 40, "train.log_every": 40, "train.warmup_steps": 5, "train.device": "cpu"}


def _clamp(ratio: float) -> float:
    low, high = RATIO_RANGE
    return min(high, max(low, ratio))


def family_of(config: RunConfig) -> str:
    """The family whose ratios a run of ``config`` follows: ``<attention>:<task>`` (``dense:reverse``; a mixture by
    its main task)."""
    return f"{config.model.attention}:{config.task.name}"


PROBE_FAMILY = "dense:reverse"  # the probe's run: the Train page's defaults


@dataclass(frozen=True)
class SpeedReading:
    """A family's ratios as they stand, and how many observations each rests on (the probe counts as one);
    a ratio of a family with none is the machine's (dense) ratio."""

    train_ratio: float
    eval_ratio: float
    train_observations: int
    eval_observations: int


@dataclass
class _Ratio:
    value: float = 1.0
    observations: int = 0

    def follow(self, observed: float) -> None:
        """The first observation replaces the prior of 1.0; later ones move the ratio :data:`FOLLOW` of the way."""
        observed = _clamp(observed)
        self.value = observed if self.observations == 0 else _clamp(self.value + FOLLOW * (observed - self.value))
        self.observations += 1


class MachineSpeed:
    """Measured over estimated seconds on this machine, per family, for training and for evaluation (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._train: dict[str, _Ratio] = {}
        self._eval: dict[str, _Ratio] = {}

    @staticmethod
    def _pick(ratios: dict[str, _Ratio], family: str) -> tuple[float, int]:
        """The family's ratio and its observations; unmeasured: the median over the measured families (else 1.0), 0."""
        own = ratios.get(family)
        if own is not None:
            return own.value, own.observations
        measured = [ratio.value for ratio in ratios.values()]
        return (statistics.median(measured) if measured else 1.0), 0

    def reading(self, family: str = PROBE_FAMILY) -> SpeedReading:
        with self._lock:
            (train, train_count), (evaluation, eval_count) = self._pick(self._train, family), self._pick(self._eval, family)
        return SpeedReading(train, evaluation, train_count, eval_count)

    def families(self) -> list[str]:
        """The families measured so far (training or evaluation)."""
        with self._lock:
            return sorted(set(self._train) | set(self._eval))

    def scaled(self, estimate: CostEstimate, family: str = PROBE_FAMILY) -> tuple[float, float]:
        """(training, evaluation) seconds of ``estimate`` (a run of ``family``) on this machine, each scaled by its ratio."""
        reading = self.reading(family)
        return estimate.train_seconds * reading.train_ratio, estimate.eval_seconds * reading.eval_ratio

    def seconds(self, estimate: CostEstimate, family: str = PROBE_FAMILY) -> float:
        """``estimate``'s time to result on this machine (:meth:`scaled`, summed)."""
        return sum(self.scaled(estimate, family))

    def describe(self, family: str = PROBE_FAMILY) -> str:
        """How the estimates are made, for a caption: ``the cost model x 0.68 for training (3 measurements) ...``."""
        reading = self.reading(family)

        def part(name: str, ratio: float, count: int) -> str:
            if count:
                return f"{name} x {ratio:.2f} ({count} measurement{'s' if count != 1 else ''} of {family} runs here)"
            return (
                f"{name} x {ratio:.2f} (no {family} run measured here yet: the median over the families measured)"
                if ratio != 1.0
                else f"{name} as modelled (not measured here yet)"
            )

        return (
            "Times are the cost model scaled to this machine: "
            f"{part('training', reading.train_ratio, reading.train_observations)}, {part('length sweep', reading.eval_ratio, reading.eval_observations)}."
        )

    def observe(
        self,
        *,
        family: str = PROBE_FAMILY,
        estimated_train_s: float = 0.0,
        measured_train_s: float = 0.0,
        estimated_eval_s: float = 0.0,
        measured_eval_s: float = 0.0,
    ) -> None:
        """Follow one finished job of ``family``: a pair with an estimate of 0 (nothing of that kind ran) is skipped."""
        with self._lock:
            if estimated_train_s > 0 and measured_train_s > 0:
                self._train.setdefault(family, _Ratio()).follow(measured_train_s / estimated_train_s)
            if estimated_eval_s > 0 and measured_eval_s > 0:
                self._eval.setdefault(family, _Ratio()).follow(measured_eval_s / estimated_eval_s)


@functools.lru_cache(maxsize=8)
def probe_training(threads: int) -> tuple[float, float]:
    """(estimated, measured) seconds of a short training run at ``threads`` torch threads: the Train page's
    default model for :data:`PROBE_CHANGES`' 40 steps (about two seconds on one core of a 2-core machine).

    Training only: the probe's sweep would take longer than it tells; evaluation's ratio waits for the first
    finished job. Measured once per process and thread count (a second job manager in the same process, as
    the tests make, reuses it: the machine has not changed)."""
    import torch

    from lengen_core.training import train

    config = RunConfig().replace(**PROBE_CHANGES)
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))
    try:
        estimated = estimate_cost(config, threads=threads).train_seconds
        started = time.perf_counter()
        result = train(config, seed=0)
        measured = result.train_seconds if result.train_seconds > 0 else time.perf_counter() - started
    finally:
        torch.set_num_threads(previous)
    return estimated, measured


def observe_finished_run(speed: MachineSpeed, store: RunStore, run_id: str, config: RunConfig, *, budget: Budget, threads: int, wall_seconds: float) -> None:
    """Tell ``speed`` how a ``done`` run compared with the cost model at ``threads`` torch threads.

    Training is compared for the steps it ran (a run that stopped once learned ran
    part of them). The sweep is compared for the lengths it tested: a length search
    that went past the planned sweep tested more, which is the run generalizing, not
    the machine being slow (our choice; the wait shown before a run still counts the
    planned sweep only). ``wall_seconds`` less the training time is the sweep's time
    (with the model's set-up and the checkpoint, a second or less).
    """
    record = store.get_run(run_id)
    planned = estimate_cost(config, budget, threads=threads)
    trained = float(record.train_seconds or 0.0)
    steps_share = (record.steps_done or 0) / max(config.train.steps, 1)
    tested = sorted({int(length) for length in store.eval_curve([run_id], sweep="default")["length"]})
    main = estimate_cost(config, budget, lengths=tested, threads=threads).eval_seconds if tested else 0.0
    others = sum(point.seconds for point in planned.eval_lengths if point.task)  # a mixture's other tested tasks, as planned
    speed.observe(
        family=family_of(config),
        estimated_train_s=planned.train_seconds * steps_share,
        measured_train_s=trained,
        estimated_eval_s=main + others,
        measured_eval_s=max(0.0, wall_seconds - trained),
    )
