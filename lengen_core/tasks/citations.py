"""Citations the task families share (each task's ``source`` is built from these).

One definition per paper, so that the families cite it with the same words.
"""

from __future__ import annotations

HUANG_2025_PAPER = (
    "Huang, Yang, Bhattamishra, Sarrof, Krebs, Zhou, Nakkiran, Hahn (2025). A Formal Framework for "
    "Understanding Length Generalization in Transformers. ICLR 2025, arXiv 2410.02140"
)
HUANG_2025 = HUANG_2025_PAPER + " (code: lacoco-lab/length_generalization)"
CHO_2024_PAPER = (
    "Cho, Cha, Awasthi, Bhojanapalli, Gupta, Yun (2024). Position Coupling: Improving Length Generalization "
    "of Arithmetic Transformers Using Task Structure. NeurIPS 2024, arXiv 2405.20671"
)
BORN_2025 = (
    "Jobanputra, Veitsman, Sarrof, Bakalova, Demberg, Pavlick, Hahn (2025). Born a Transformer – Always a "
    "Transformer? arXiv 2505.21785 (code: lacoco-lab/always_a_transformer)"
)


def cho_2024(*files: str) -> str:
    """Cho et al. 2024 with its code repository and, if given, the files of it a rule follows."""
    return f"{CHO_2024_PAPER} (code: {', '.join(('HanseulJo/position-coupling', *files))})"
