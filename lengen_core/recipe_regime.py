"""The seeds' recipes in their papers' regime (issue 22): every arm's config, as dotted changes on the defaults.

One source for the sweep that measures them (``bench/recipes_regime.py``, three seeds each, results in
docs/results.md) and for the lessons that show them (:mod:`lengen_core.lessons` bundles seed 0 of some
arms): a lesson's run and the sweep's run of the same arm are the same config (same config id), so the
lesson's bundled run is one of the three seeds its claim rests on.

Each arm is ``main task alone`` or ``main task + a recipe`` (:mod:`lengen_core.recipes`: the recipe arm's
batch is the baseline's times 1 + its partners, so it sees as many main-task examples). Groups, with the
tag each arm's runs carry (``regime-<group>-<arm>``):

- ``sortrep`` (``--groups hint``): sort with repeated values (``sort_repeated``) trained on 1-20 without
  positions, tested to 5x (100): alone / + the dense successor hint (Awasthi & Gupta 2023) / + restrictions of
  4x longer inputs that keep their positions and are answered to their end (Awasthi, Gupta & Kumar 2025); and
  alone / + hint with ``model.length_scaling = log``, our labelled stand-in for their length-dependent tempered
  softmax (its definition could not be read);
- ``reversal``: reversal of distinct symbols (``copy_backward_unique``) trained on 1-10 with RoPE, tested to 4x
  (40): alone / + restrictions of 4x longer inputs at their long positions;
- ``ppc``: the right neighbour of a query that occurs once, the query coupled to its occurrence
  (``retrieve_right_unique``, ``query_coupled``): the answer's id is the query's + 1, a sparse rule only data
  shows; trained on 8-16, tested to 4x (64): predictive coupling / plain coupling / NoPE / learned APE with
  offsets. Golowich et al.'s own PPC experiments could not be read (every stored copy of arXiv 2502.16792 holds
  its abstract and the start of its introduction only), so this task is our construction of the claim's setting;
- ``copy`` and ``capitalize`` (``--groups transfer``): Cai et al. 2025 at 4 layers x width 128 with RoPE
  (theirs: 6 x 384): string copy trained on 1-8, alone / + MQAR on 1-16 / + reverse on 1-16 (their control);
  capitalize-reverse on 1-8, alone / + capitalize and reverse of letters on 1-16; tested to 4x (32).

Model sizes are ours (CPU scale): 2 layers x 4 heads x width 64 (feed-forward 256) at lr 1e-3, 4 x 4 x 128 for
transfer; 100 test examples per length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lengen_core.config import RunConfig

# transfer: 10,000 since MQAR at 4 x 128 is learned in a jump after 2,500-5,600 steps (docs/results.md, issue 22);
# its capitalize baseline was measured at 6,000 (--steps-transfer 6000)
DEFAULT_STEPS: dict[str, int] = {"hint": 4000, "reversal": 3000, "ppc": 3000, "transfer": 10000}
GROUPS: tuple[str, ...] = tuple(DEFAULT_STEPS)
TAG_PREFIX = "regime-"


def model_changes(layers: int, heads: int, width: int, lr: float = 1e-3) -> dict[str, Any]:
    """A transformer's size as config changes (feed-forward width 4x the model's), with its learning rate."""
    return {"model.n_layers": layers, "model.n_heads": heads, "model.d_model": width, "model.d_ff": 4 * width, "train.lr": lr}


SMALL: dict[str, Any] = {**model_changes(2, 4, 64), "train.distractor_examples": 0, "eval.samples_per_length": 100, "train.log_every": 100}
LARGE: dict[str, Any] = {**SMALL, **model_changes(4, 4, 128)}
SORT_LENGTHS = [10, 20, 30, 40, 60, 80, 100]
TRANSFER_LENGTHS = [6, 8, 10, 12, 16, 20, 24, 32]


@dataclass(frozen=True)
class RegimeArm:
    """One arm of a group: its sweep tag, the group ``--groups`` names it by, and its dotted config changes."""

    tag: str
    group: str
    changes: dict[str, Any]

    def config(self) -> RunConfig:
        return RunConfig().replace(**self.changes)


def _arm(task: str, scheme: str, low: int, high: int, lengths: list[int], steps: int, recipe: str | None, **more: Any) -> dict[str, Any]:
    """The dotted changes of ``task`` trained on ``low..high`` with ``scheme``, plus ``recipe``'s partners and batch."""
    from lengen_core.recipes import RECIPES

    changes = {
        **more,
        "task.name": task,
        "positions.scheme": scheme,
        "task.train_length_min": low,
        "task.train_length_max": high,
        "eval.lengths": lengths,
        "train.steps": steps,
    }
    if recipe:
        batch = changes.get("train.batch_size", RunConfig().train.batch_size)
        changes.update(RECIPES[recipe].changes(low, high, batch))
    return changes


def regime_arms(steps: dict[str, int] | None = None) -> list[RegimeArm]:
    """Every arm, in the order the sweep trains them; ``steps``: per ``--groups`` name (default :data:`DEFAULT_STEPS`)."""
    steps = {**DEFAULT_STEPS, **(steps or {})}
    arms: list[RegimeArm] = []
    for name, recipe, more in (
        ("none", None, {}),
        ("successor_hint_dense", "successor_hint_dense", {}),
        ("restrictions_repeated", "restrictions_repeated", {}),
        ("none+log", None, {"model.length_scaling": "log"}),
        ("successor_hint_dense+log", "successor_hint_dense", {"model.length_scaling": "log"}),
    ):
        changes = _arm("sort_repeated", "nope", 1, 20, SORT_LENGTHS, steps["hint"], recipe, **SMALL, **more)
        arms.append(RegimeArm(f"{TAG_PREFIX}sortrep-{name}", "hint", changes))
    for name, recipe in (("none", None), ("reverse_restrictions", "reverse_restrictions")):
        changes = _arm("copy_backward_unique", "rope", 1, 10, [5, 10, 15, 20, 30, 40], steps["reversal"], recipe, **SMALL, **{"positions.max_position": 256})
        arms.append(RegimeArm(f"{TAG_PREFIX}reversal-{name}", "reversal", changes))
    ppc = {**SMALL, "task.options": {"query_coupled": True}, "positions.max_position": 160}
    for scheme in ("predictive_coupled", "coupled", "nope", "learned"):
        offsets = {"positions.train_offset_max": 160} if scheme == "learned" else {}
        arms.append(
            RegimeArm(f"{TAG_PREFIX}ppc", "ppc", _arm("retrieve_right_unique", scheme, 8, 16, [8, 16, 24, 32, 48, 64], steps["ppc"], None, **ppc, **offsets))
        )
    for main, arm_recipes in (
        ("copy", (("none", None), ("transfer_recall", "transfer_recall"), ("control_copy_reverse", "control_copy_reverse"))),
        ("capitalize", (("none", None), ("transfer_capitalize", "transfer_capitalize"))),
    ):
        task = "copy_forward_nonunique" if main == "copy" else "capitalize_reverse"
        for name, recipe in arm_recipes:
            changes = _arm(task, "rope", 1, 8, TRANSFER_LENGTHS, steps["transfer"], recipe, **LARGE)
            arms.append(RegimeArm(f"{TAG_PREFIX}{main}-{name}", "transfer", changes))
    return arms


def regime_arm(tag: str, scheme: str | None = None) -> RegimeArm:
    """The arm of sweep ``tag`` (for ``regime-ppc``, the one of ``scheme``) at the default steps."""
    for arm in regime_arms():
        if arm.tag == tag and (scheme is None or arm.changes["positions.scheme"] == scheme):
            return arm
    raise KeyError(f"no regime arm {tag!r}" + (f" with scheme {scheme!r}" if scheme else ""))
