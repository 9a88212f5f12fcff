"""Position schemes: which IDs each token gets, and how the IDs enter the model.

A scheme = an ID rule (:mod:`.rules`) + an encoding (:mod:`.encodings`):

=====================  ===================  ==========================================
scheme                 ID rule              encoding
=====================  ===================  ==========================================
nope                   index                none (causal mask only)
learned                index (+offset)      learned absolute table
sinusoidal             index                sinusoidal
rope                   index                RoPE
alibi                  index                ALiBi bias
fire                   index                FIRE bias
randomized             randomized           ``positions.base_encoding``
coupled                coupled (+offset)    ``positions.base_encoding``: default the
                                            learned absolute table of Cho et al.; RoPE,
                                            ALiBi, FIRE or sinusoids of the coupled ids
                                            are our extension (the coupled-attention
                                            kernel computes them from the ids)
predictive_coupled     coupled (+offset)    as coupled; the model also predicts the
                                            next token's ID and, when decoding, its own
                                            predictions are fed back (Golowich et al.)
abacus                 abacus (+offset)     learned table over digit significance
=====================  ===================  ==========================================

Index hints (Zhou et al. 2023) are a data format, not a scheme: ``task.index_hints``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from lengen_core.batching import Batch
from lengen_core.config import PositionConfig, scheme_rule_and_encoding
from lengen_core.errors import ConfigError
from lengen_core.positions.encodings import ENCODINGS, PositionalTerms, sinusoidal_table
from lengen_core.positions.rules import ABACUS_DEFAULT_MAX_OFFSET, index_ids, offset_structural_ids, randomized_ids

__all__ = ["ENCODINGS", "PositionScheme", "PositionalTerms", "build_scheme", "sinusoidal_table"]


@dataclass(frozen=True)
class PositionScheme:
    """A position scheme resolved from a :class:`PositionConfig`."""

    config: PositionConfig
    rule: str
    encoding: str
    offset_max: int
    predicts_positions: bool

    @property
    def name(self) -> str:
        return self.config.scheme

    @property
    def needs_table(self) -> bool:
        return self.encoding == "learned"

    def position_ids(self, batch: Batch, *, training: bool, generator: torch.Generator | None = None) -> torch.Tensor:
        """``[B, T]`` int64 position ids (on the CPU) for every token of ``batch``."""
        max_position = self.config.max_position
        if self.rule == "index":
            return index_ids(batch, offset_max=self.offset_max if training else 0, max_position=max_position, training=training, generator=generator)
        if self.rule == "randomized":
            return randomized_ids(batch, max_position=max_position, generator=generator)
        if self.rule == "coupled":
            if batch.coupled_ids is None:
                raise ConfigError("positions.scheme", "the task's examples carry no coupling ids")
            structural = batch.coupled_ids
        else:  # abacus
            if batch.digit_significance is None:
                raise ConfigError("positions.scheme", "the task's examples carry no digit significance (Abacus needs numbers)")
            structural = batch.digit_significance
        return offset_structural_ids(structural, batch, offset_max=self.offset_max, max_position=max_position, training=training, generator=generator)


def build_scheme(config: PositionConfig) -> PositionScheme:
    """Resolve the ID rule, encoding and training offset of a scheme.

    ``train_offset_max = -1`` picks the scheme's default: no offset for plain
    index schemes, the whole table for coupling (Cho et al. train with random
    starts across the table), 100 for Abacus (McLeish et al.'s k), capped by the table.
    """
    rule, encoding = scheme_rule_and_encoding(config)
    if config.train_offset_max >= 0:
        offset_max = config.train_offset_max
    elif rule == "coupled":
        offset_max = -1  # as far as the table allows
    elif rule == "abacus":
        offset_max = min(ABACUS_DEFAULT_MAX_OFFSET, config.max_position - 1)
    else:
        offset_max = 0
    if rule == "randomized":
        offset_max = 0
    return PositionScheme(config=config, rule=rule, encoding=encoding, offset_max=offset_max, predicts_positions=config.scheme == "predictive_coupled")
