"""Training recipes: named multi-task setups from the papers, as changes to a run's config.

A recipe fixes the main task and the tasks trained beside it (``task.mixture``);
the main task keeps the run's training range, and each partner's range follows
from it (Cai et al. train the partner to twice the main task's length; the hints
and restrictions train at the main task's own lengths). ``baseline`` of a
recipe is the same run without partners: what the recipe is measured against.

- ``successor_hint`` / ``predecessor_hint``: task hinting for sort (Awasthi & Gupta 2023).
- ``restrictions`` / ``reverse_restrictions``: the auxiliary-task recipe for sort and for
  reversal of distinct symbols (Awasthi, Gupta & Kumar 2025).
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

    def changes(self, low: int, high: int) -> dict[str, Any]:
        """The dotted changes that make a run of main-task range ``low..high`` this recipe's
        (each partner's range kept inside the lengths its task supports)."""
        from lengen_core.tasks.base import build_task

        entries = []
        for partner in self.partners:
            task = build_task(partner.name, dict(partner.options))
            top = min(max(high * partner.length_factor, task.min_length), task.max_length)
            bottom = min(max(low, task.min_length), top)
            entries.append({"name": partner.name, "train_length_min": bottom, "train_length_max": top, "options": dict(partner.options)})
        return {"task.name": self.main_task, "task.mixture": entries}

    def apply(self, config: RunConfig, **more: Any) -> RunConfig:
        """``config`` with this recipe's main task (its range kept) and partners, and ``more`` dotted changes."""
        return config.replace(**self.changes(config.task.train_length_min, config.task.train_length_max), **more)


HINTING = "Awasthi & Gupta (2023), Improving Length-Generalization in Transformers via Task Hinting, arXiv 2310.00726"
AUXILIARY = "Awasthi, Gupta & Kumar (2025), Length Generalization via Auxiliary Tasks, NeurIPS 2025"
TRANSFER = "Cai et al. (2025), Extrapolation by Association: Length Generalization Transfer in Transformers, arXiv 2506.09251"

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (
        Recipe(
            "successor_hint", "Sort with the successor hint", "sort", (Partner("sort_successor"),),
            "trained on lengths <= 20, sort went from under 1% to above 92% exact match at length 100", HINTING,
        ),
        Recipe(
            "predecessor_hint", "Sort with the predecessor hint", "sort", (Partner("sort_predecessor"),),
            "a natural hint that helped sorting far less than the successor hint", HINTING,
        ),
        Recipe(
            "restrictions", "Sort with restrictions of long inputs", "sort", (Partner("sort_restricted", options=(("source_factor", 4),)),),
            "joint training on short restrictions of long inputs provably gives length generalization for sparse tasks", AUXILIARY,
        ),
        Recipe(
            "reverse_restrictions", "Reversal with restrictions of long inputs", "copy_backward_unique",
            (Partner("reverse_restricted", options=(("source_factor", 4),)),),
            "joint training on short restrictions of long inputs provably gives length generalization for sparse tasks", AUXILIARY,
        ),
        Recipe(
            "transfer_carries", "Reversed addition with no-carry and carry-only addition (2x longer)", "reversed_addition",
            (Partner("no_carry_addition", 2), Partner("carry_only_addition", 2)),
            "the main task extrapolates towards its partners' longer range", TRANSFER,
        ),
        Recipe(
            "transfer_subtraction", "Reversed addition with reversed subtraction (2x longer)", "reversed_addition",
            (Partner("reversed_subtraction", 2),), "the main task extrapolates towards its partner's longer range", TRANSFER,
        ),
        Recipe(
            "transfer_recall", "String copy with multi-query associative recall (2x longer)", "copy_forward_nonunique",
            (Partner("mqar", 2),), "the main task extrapolates towards its partner's longer range", TRANSFER,
        ),
        Recipe(
            "transfer_capitalize", "Capitalize-reverse with capitalize and reverse (2x longer)", "capitalize_reverse",
            (Partner("capitalize", 2), Partner("reverse_letters", 2)),
            "the main task extrapolates towards its partners' longer range", TRANSFER,
        ),
        Recipe(
            "control_copy_reverse", "Control: string copy with string reverse (2x longer)", "copy_forward_nonunique",
            (Partner("reverse", 2),), "an unrelated string partner: no transfer", TRANSFER,
        ),
        Recipe(
            "control_copy_operand", "Control: reversed addition with copy-first-operand (2x longer)", "reversed_addition",
            (Partner("copy_first_operand", 2),), "an unrelated partner of the same format: no transfer", TRANSFER,
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
