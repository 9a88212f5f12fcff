"""Training recipes: named multi-task setups from the papers, as changes to a run's config.

A recipe fixes the main task and the tasks trained beside it (``task.mixture``);
the main task keeps the run's training range, and each partner's range follows
from it (Cai et al. train the partner to twice the main task's length; the hints
and restrictions train at the main task's own lengths). ``baseline`` of a
recipe is the same run without partners: what the recipe is measured against.

- ``successor_hint`` / ``predecessor_hint``: task hinting for sort (Awasthi & Gupta 2023).
- ``successor_hint_dense``: task hinting in the paper's regime, sort with repeated values and the
  successor hint posed densely (every element of a hint example supervised).
- ``restrictions`` / ``restrictions_repeated`` / ``reverse_restrictions``: the auxiliary-task recipe for sort
  (distinct symbols, and with repeats) and for reversal of distinct symbols (Awasthi, Gupta & Kumar 2025); the
  restrictions keep their long-instance positions (``lengen_core.tasks.hints``).

Every recipe sees as many main-task examples as its baseline (``same_main_examples``): its batch is the
baseline's times ``1 + the number of partners`` (each task is drawn with weight 1), so that the partners' examples
come on top of the main task's, at the same steps and learning-rate schedule. Our choice since issue 22: a 1:1
mixture at the baseline's batch gave the recipe arm half the main task's examples. (Runs stored before keep
the batch they trained with: a recipe is a config change at creation.)
- ``transfer_carries``, ``transfer_subtraction``, ``transfer_recall``, ``transfer_capitalize``: length-generalization
  transfer groups of Cai et al. 2025; ``control_copy_operand`` and
  ``control_copy_reverse`` are their controls (arithmetic, strings), which should not transfer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lengen_core.config import RunConfig
from lengen_core.errors import ConfigError, shown


@dataclass(frozen=True)
class Partner:
    """A task trained beside the main one; its range is ``length_factor`` x the main task's."""

    name: str
    length_factor: int = 1
    options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    main_task: str
    partners: tuple[Partner, ...]
    predicts: str  # what the paper found, in one sentence
    source: str
    same_main_examples: bool = True  # the batch grows so the main task gets the baseline's examples (module docstring)
    main_options: tuple[tuple[str, Any], ...] = ()

    @property
    def batch_factor(self) -> int:
        """How many times the baseline's batch this recipe trains on (1 unless ``same_main_examples``)."""
        return 1 + len(self.partners) if self.same_main_examples else 1

    def changes(self, low: int, high: int, batch_size: int | None = None) -> dict[str, Any]:
        """The dotted changes that make a run of main-task range ``low..high`` this recipe's
        (each partner's range kept inside the lengths its task supports); with ``batch_size`` (the
        baseline's), the recipe's own batch when it keeps the main task's examples."""
        from lengen_core.tasks.base import build_task

        entries = []
        for partner in self.partners:
            task = build_task(partner.name, dict(partner.options))
            top = min(max(high * partner.length_factor, task.min_length), task.max_length)
            bottom = min(max(low, task.min_length), top)
            entries.append({"name": partner.name, "train_length_min": bottom, "train_length_max": top, "options": dict(partner.options)})
        changes: dict[str, Any] = {"task.name": self.main_task, "task.mixture": entries}
        if self.main_options:
            changes["task.options"] = dict(self.main_options)
        if batch_size is not None and self.batch_factor > 1:
            changes["train.batch_size"] = batch_size * self.batch_factor
        return changes

    def apply(self, config: RunConfig, **more: Any) -> RunConfig:
        """``config`` with this recipe's main task (its range kept), partners and batch, and ``more`` dotted changes."""
        task = config.task
        return config.replace(**self.changes(task.train_length_min, task.train_length_max, config.train.batch_size), **more)


HINTING = "Awasthi & Gupta (2023), Improving Length-Generalization in Transformers via Task Hinting, arXiv 2310.00726"
AUXILIARY = "Awasthi, Gupta & Kumar (2025), Length Generalization via Auxiliary Tasks, NeurIPS 2025"
TRANSFER = "Cai et al. (2025), Extrapolation by Association: Length Generalization Transfer in Transformers, arXiv 2506.09251"

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "successor_hint",
            "Sort with the successor hint",
            "sort",
            (Partner("sort_successor"),),
            "trained on lengths <= 20, sort went from under 1% to above 92% exact match at length 100",
            HINTING,
        ),
        Recipe(
            "predecessor_hint",
            "Sort with the predecessor hint",
            "sort",
            (Partner("sort_predecessor"),),
            "a natural hint that helped sorting far less than the successor hint",
            HINTING,
        ),
        Recipe(
            "successor_hint_dense",
            "Sort with repeats and the dense successor hint",
            "sort_repeated",
            (Partner("sort_successor_dense"),),
            "trained on lengths <= 20, sort with repetitions went from under 1% to 92.6% exact match at length 100",
            HINTING,
        ),
        Recipe(
            "restrictions_repeated",
            "Sort with repeats and restrictions of long inputs",
            "sort_repeated",
            (Partner("sort_restricted", options=(("source_factor", 4), ("repeats", True), ("alphabet_size", 16))),),
            "joint training on short restrictions of long inputs provably gives length generalization for sparse tasks",
            AUXILIARY,
        ),
        Recipe(
            "restrictions",
            "Sort with restrictions of long inputs",
            "sort",
            (Partner("sort_restricted", options=(("source_factor", 4),)),),
            "joint training on short restrictions of long inputs provably gives length generalization for sparse tasks",
            AUXILIARY,
        ),
        Recipe(
            "reverse_restrictions",
            "Reversal with restrictions of long inputs",
            "copy_backward_unique",
            (Partner("reverse_restricted", options=(("source_factor", 4),)),),
            "joint training on short restrictions of long inputs provably gives length generalization for sparse tasks",
            AUXILIARY,
        ),
        Recipe(
            "transfer_carries",
            "Reversed addition with no-carry and carry-only addition (2x longer)",
            "reversed_addition",
            (Partner("no_carry_addition", 2), Partner("carry_only_addition", 2)),
            "the main task extrapolates towards its partners' longer range",
            TRANSFER,
        ),
        Recipe(
            "transfer_subtraction",
            "Reversed addition with reversed subtraction (2x longer)",
            "reversed_addition",
            (Partner("reversed_subtraction", 2),),
            "the main task extrapolates towards its partner's longer range",
            TRANSFER,
        ),
        Recipe(
            "transfer_recall",
            "String copy with multi-query associative recall (2x longer)",
            "copy_forward_nonunique",
            (Partner("mqar", 2),),
            "the main task extrapolates towards its partner's longer range",
            TRANSFER,
        ),
        Recipe(
            "transfer_capitalize",
            "Capitalize-reverse with capitalize and reverse (2x longer)",
            "capitalize_reverse",
            (Partner("capitalize", 2), Partner("reverse_letters", 2)),
            "the main task extrapolates towards its partners' longer range",
            TRANSFER,
        ),
        Recipe(
            "control_copy_reverse",
            "Control: string copy with string reverse (2x longer)",
            "copy_forward_nonunique",
            (Partner("reverse", 2),),
            "an unrelated string partner: no transfer",
            TRANSFER,
        ),
        Recipe(
            "control_copy_operand",
            "Control: reversed addition with copy-first-operand (2x longer)",
            "reversed_addition",
            (Partner("copy_first_operand", 2),),
            "an unrelated partner of the same format: no transfer",
            TRANSFER,
        ),
    )
}


def recipe(name: str, field: str = "recipe") -> Recipe:
    if name not in RECIPES:
        raise ConfigError(field, f"unknown recipe {shown(name)}; choose from {sorted(RECIPES)}")
    return RECIPES[name]


def matching_recipe(main_task: str, partner_names: Sequence[str]) -> Recipe | None:
    """The recipe whose main task and partners (in order) these are, if any."""
    for item in RECIPES.values():
        if item.main_task == main_task and tuple(partner_names) == tuple(partner.name for partner in item.partners):
            return item
    return None


def baseline(config: RunConfig) -> RunConfig:
    """The same run trained on its main task alone."""
    return config.replace(**{"task.mixture": ()})
