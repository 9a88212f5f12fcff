"""What theory predicts, drawn beside a task or a run (the words come from :mod:`lengen_core.theory`).

``task_theory_lines`` is plain text (tested without Streamlit); ``theory_panel``
and ``run_theory`` draw it.
"""

from __future__ import annotations

import streamlit as st

from lengen_core.config import RunConfig
from lengen_core.tasks import build_task
from lengen_core.tasks.theory import Prediction, short_source
from lengen_core.theory import check_run, prediction_for_setting
from pages.escaping import escape_markdown


def _prediction_line(setting: str, prediction: Prediction | None) -> str:
    if prediction is None:
        return f"{setting}: no prediction for this task"
    reported = f"; the paper measured {prediction.reported} (% exact match: training lengths / longer / longest)" if prediction.reported else ""
    return f"{setting}: {prediction.sentence()}{reported}"


def task_theory_lines(config: RunConfig) -> list[str]:
    """Every label of the config's task (NoPE, APE with offsets, k), then the one that applies to its scheme."""
    task = build_task(config.task.name, config.task.options)
    theory = task.theory
    lines = [_prediction_line("NoPE", theory.nope), _prediction_line("APE with random offsets", theory.ape)]
    if theory.sparsity is not None:
        lines.append(f"k-sparse ({short_source(theory.sparsity.source)}): {theory.sparsity.sentence()}")
    applicable = prediction_for_setting(theory, config.positions.scheme, max(config.positions.train_offset_max, 0))
    lines.append(f"This run ({config.positions.scheme}): {applicable.sentence()}")
    return lines


def theory_panel(config: RunConfig) -> None:
    """The Train page's box beside the task: what the theory predicts for it and for the chosen scheme."""
    lines = [escape_markdown(line) for line in task_theory_lines(config)]
    st.markdown("**What theory predicts**  \n" + "  \n".join(f"- {line}" for line in lines[:-1]) + f"  \n**{lines[-1]}**")


def run_theory(config: RunConfig, breakdown_length: int | None, longest_tested: int | None) -> None:
    """A finished run's prediction beside its measured outcome, a disagreement marked."""
    check = check_run(config, breakdown_length, longest_tested)
    predicted, measured, agreement = (escape_markdown(line) for line in check.lines())
    mark = {True: ":green[:material/check_circle:]", False: ":red[:material/cancel:]", None: ":gray[:material/remove:]"}[check.agrees]
    st.markdown(f"{mark} **{agreement}**  \n{predicted}  \n{measured}")
