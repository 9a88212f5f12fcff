"""Incremental decoding, owned by the model: its caches and each step's positional terms.

:meth:`Transformer.start_decoding <lengen_core.models.transformer.Transformer.start_decoding>`
returns a :class:`Decoder` for one batch of (left-padded) prompts. The decoder
holds the tokens and position ids of every slot, the per-layer KV caches (dense
attention; HSA layers have none and re-run the prefix each step), and the
ALiBi/FIRE bias; each :meth:`Decoder.step` runs the tokens the model has not
seen yet with exactly their rows of the bias and of the padding mask, and
returns the next slot's logits. The caller only picks the next tokens and
:meth:`Decoder.append` s them (:func:`lengen_core.evaluation.greedy_decode`
takes the argmax).

RoPE angles, learned/sinusoidal embeddings and the log length factor follow
from the ids and the cache length inside the forward pass; the bias is the one
term built here, once for the whole batch from the ids of every slot, or (for
predictive coupling, whose ids of generated tokens are the model's own
predictions) again each step from the ids known so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from lengen_core.models.attention import LayerCache
from lengen_core.positions import PositionScheme
from lengen_core.positions.encodings import PositionalTerms
from lengen_core.vocab import PAD_ID


class ForwardOutput(Protocol):
    """What one forward pass returns that decoding reads (:class:`~lengen_core.models.transformer.ModelOutput`)."""

    logits: torch.Tensor  # [B, T, V]
    position_logits: torch.Tensor | None  # [B, T, P] or None


class DecodedModel(Protocol):
    """What a :class:`Decoder` uses of its model: :class:`~lengen_core.models.transformer.Transformer` is one.

    A protocol rather than the class, because the transformer module imports this one
    (its ``start_decoding`` makes a Decoder): naming the class here would close an import cycle.
    """

    scheme: PositionScheme
    terms: PositionalTerms

    @property
    def supports_cache(self) -> bool: ...

    def new_caches(self) -> list[LayerCache]: ...

    def __call__(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        caches: list[LayerCache] | None = None,
        attention_bias: torch.Tensor | None = None,
    ) -> ForwardOutput: ...


@dataclass(frozen=True)
class DecodeStep:
    """The model's prediction for the next slot of every row.

    logits: [B, V]; position_logits: [B, max_position] (predictive coupling: the
    next token's id) or None.
    """

    logits: torch.Tensor
    position_logits: torch.Tensor | None


class Decoder:
    """One batch being decoded: ``step()`` predicts the next slot, ``append()`` fills it.

    prompt: [B, P] left-padded prompt tokens; position_ids: [B, P + A], the ids of
    the prompt and of the A slots to generate (for predictive coupling, the ids of
    generated tokens are placeholders that :meth:`append` overwrites);
    key_padding_mask: [B, P] (True = real token) or None when no row is padded.
    """

    def __init__(
        self, model: DecodedModel, prompt: torch.Tensor, position_ids: torch.Tensor, *, key_padding_mask: torch.Tensor | None = None, use_cache: bool = True
    ) -> None:
        rows, prompt_width = prompt.shape
        slots = position_ids.shape[1]
        if slots < prompt_width:
            raise ValueError(f"position_ids cover {slots} slots, fewer than the prompt's {prompt_width} tokens")
        self.model = model
        self.tokens = torch.full_like(position_ids, PAD_ID)  # [B, P + A]; a slot stays PAD until appended
        self.tokens[:, :prompt_width] = prompt
        self.position_ids = position_ids.clone()  # [B, P + A]
        if key_padding_mask is not None:
            generated = key_padding_mask.new_ones(rows, slots - prompt_width)  # generated tokens are real
            key_padding_mask = torch.cat([key_padding_mask, generated], dim=1)  # [B, P + A]
        self.key_padding_mask = key_padding_mask
        self.length = prompt_width  # slots [0, length) hold known tokens
        self.caches = model.new_caches() if use_cache and model.supports_cache else None
        self._fed = 0  # tokens already run through the model (the caches hold them)
        self.prompt_predictions: torch.Tensor | None = None  # [B, P] the argmax token after each prompt slot, once step() ran
        # [B, H, P + A, P + A] or None; predictive coupling learns the ids as it goes (see _bias_rows)
        self._full_bias = None if model.scheme.predicts_positions else model.terms.attention_bias(self.position_ids)

    @torch.no_grad()
    def step(self) -> DecodeStep:
        """Run the tokens the model has not seen (with no cache: the whole prefix) and predict the next slot."""
        end = self.length
        if self._fed == end:
            raise RuntimeError("step() predicts the slot after the last known token: append() that slot first")
        start = self._fed if self.caches is not None else 0
        output = self.model(
            self.tokens[:, start:end],
            self.position_ids[:, start:end],
            key_padding_mask=None if self.key_padding_mask is None else self.key_padding_mask[:, :end],
            caches=self.caches,
            attention_bias=self._bias_rows(start, end),
        )
        if self.prompt_predictions is None:  # the first step runs the whole prompt
            self.prompt_predictions = output.logits.argmax(dim=-1)  # [B, P]
        self._fed = end
        position_logits = None if output.position_logits is None else output.position_logits[:, -1]
        return DecodeStep(logits=output.logits[:, -1], position_logits=position_logits)

    def append(self, tokens: torch.Tensor, position_ids: torch.Tensor | None = None) -> None:
        """Fill the next slot: tokens: [B]; position_ids: [B], the predicted ids (predictive coupling only) or None."""
        if self.length == self.tokens.shape[1]:
            raise ValueError(f"all {self.tokens.shape[1]} slots are filled")
        if position_ids is not None and not self.model.scheme.predicts_positions:
            raise ValueError(f"scheme {self.model.scheme.name!r} gives every slot its id up front; only predictive coupling appends ids")
        self.tokens[:, self.length] = tokens
        if position_ids is not None:
            self.position_ids[:, self.length] = position_ids
        self.length += 1

    def _bias_rows(self, start: int, end: int) -> torch.Tensor | None:
        """The ALiBi/FIRE bias of queries [start, end) over keys [0, end): [B, H, end - start, end], or None.

        Rows are cut from the bias of every slot when the ids are known up front;
        for predictive coupling the bias is rebuilt from the ids known so far.
        """
        if self._full_bias is not None:
            return self._full_bias[:, :, start:end, :end]
        if self.model.scheme.predicts_positions:
            bias = self.model.terms.attention_bias(self.position_ids[:, :end])  # [B, H, end, end] or None
            return None if bias is None else bias[:, :, start:end, :end]
        return None
