"""What theory predicts for a task: the labels a task carries, one per positional setting.

Two predictions come from Huang et al. 2025 (arXiv 2410.02140, code
lacoco-lab/length_generalization), whose Limit Transformer / C-RASP framework
predicts length generalization exactly when a program of the right kind exists:

- ``nope``: transformers without positional encodings (NoPE) are predicted to
  length-generalize on a task if and only if it has a **C-RASP** program.
- ``ape``: transformers with learned absolute positions, trained with random
  position offsets, if and only if it has a **C-RASP[Periodic, Local]**
  program (C-RASP with periodic and local position relations).

A third kind of label, ``sparsity``, comes from Golowich et al. 2025 (arXiv
2502.16792): a task is *k-sparse* when every output token depends on at most
``k`` input tokens; their theory predicts length generalization for small
``k`` when the ``k`` tokens lie within a bounded span (the locality condition
that position coupling relaxes), and that it degrades as ``k`` grows.

Each :class:`Prediction` says whether it is the paper's own statement
(``derived_by="paper"``) or our reading of the paper's definitions for a task
the paper does not list (``derived_by="ours"``), so that a user knows which is which.
"""

from __future__ import annotations

from dataclasses import dataclass

from lengen_core.tasks.citations import BORN_2025, HUANG_2025

GOLOWICH_2025 = (
    "Golowich, Jelassi, Brandfonbrener, Kakade, Malach (2025). The Role of Sparsity for Length Generalization in Transformers. ICML 2025, arXiv 2502.16792"
)
NOPE_CLAIM = "a C-RASP program"
APE_CLAIM = "a C-RASP[Periodic, Local] program"


@dataclass(frozen=True)
class Prediction:
    """One theory's verdict on one task under one positional setting.

    generalizes: ``True`` when the theory predicts length generalization, ``False`` failure.
    claim: what the verdict rests on, e.g. ``"a C-RASP program"`` (exists when ``generalizes``).
    source: the paper (and code) the verdict comes from.
    derived_by: ``"paper"`` (the paper states it) or ``"ours"`` (our derivation from its definitions).
    reported: the paper's own measurement, as it reports it (empty when it reports none).
    """

    generalizes: bool
    claim: str
    source: str
    derived_by: str = "paper"
    reported: str = ""

    def __post_init__(self) -> None:
        if self.derived_by not in ("paper", "ours"):
            raise ValueError(f"Prediction.derived_by must be 'paper' or 'ours', got {self.derived_by!r}")

    @property
    def verdict(self) -> str:
        """``"generalizes"`` or ``"fails"``: the predicted outcome in one word."""
        return "generalizes" if self.generalizes else "fails"

    def sentence(self) -> str:
        """``"generalizes: a C-RASP program exists (Huang et al. 2025)"``."""
        exists = "exists" if self.generalizes else "does not exist"
        who = "" if self.derived_by == "paper" else "; our derivation from the paper's definitions"
        return f"{self.verdict}: {self.claim} {exists} ({short_source(self.source)}{who})"


@dataclass(frozen=True)
class Sparsity:
    """Golowich et al.'s k-sparsity of a task: each output token depends on at most ``k`` input tokens.

    span: the largest distance (in tokens of the input) between the ``k`` tokens
    an output depends on, when the task bounds it (their locality condition);
    ``None`` when the planted tokens may lie anywhere in the input.
    """

    k: int
    span: int | None = None
    source: str = GOLOWICH_2025

    def sentence(self) -> str:
        where = "anywhere in the input" if self.span is None else f"within a span of {self.span} tokens"
        return f"k = {self.k}: each answer token depends on {self.k} input token{'s' if self.k != 1 else ''}, {where}"


@dataclass(frozen=True)
class TaskTheory:
    """Every label a task carries: the NoPE and APE predictions and its sparsity (each may be absent)."""

    nope: Prediction | None = None
    ape: Prediction | None = None
    sparsity: Sparsity | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain data for tables and JSON: verdicts, claims, sources, k and span."""
        out: dict[str, object] = {}
        for setting in ("nope", "ape"):
            prediction: Prediction | None = getattr(self, setting)
            out[setting] = (
                None
                if prediction is None
                else {
                    "generalizes": prediction.generalizes,
                    "claim": prediction.claim,
                    "source": prediction.source,
                    "derived_by": prediction.derived_by,
                    "reported": prediction.reported,
                }
            )
        out["sparsity_k"] = None if self.sparsity is None else self.sparsity.k
        out["sparsity_span"] = None if self.sparsity is None else self.sparsity.span
        return out


def short_source(source: str) -> str:
    """``"Huang et al. 2025"`` from a full citation (first author's surname, et al., year)."""
    authors, _, rest = source.partition("(")
    year = rest[:4] if rest[:4].isdigit() else ""
    first = authors.split(",")[0].strip()
    several = "," in authors or " and " in authors
    return f"{first}{' et al.' if several else ''} {year}".strip()


def huang(nope: bool, ape: bool, *, reported_nope: str = "", reported_ape: str = "", source: str = HUANG_2025) -> TaskTheory:
    """Both of Huang et al.'s predictions, as the paper states them for a task of its suite.

    ``reported_*``: their measured exact match (%) at the training range / 51-100 / 101-150.
    """
    return TaskTheory(nope=Prediction(nope, NOPE_CLAIM, source, reported=reported_nope), ape=Prediction(ape, APE_CLAIM, source, reported=reported_ape))


def born(nope: bool, ape: bool) -> TaskTheory:
    """A task of "Born a Transformer" (Jobanputra et al. 2025), judged in Huang et al.'s framework.

    That paper states which of its copy and retrieval tasks have a C-RASP
    program with local relations (our ``ape``); the NoPE verdict (plain
    C-RASP, no positional relation at all) is our derivation.
    """
    return TaskTheory(nope=Prediction(nope, NOPE_CLAIM, HUANG_2025, derived_by="ours"), ape=Prediction(ape, APE_CLAIM, BORN_2025))
