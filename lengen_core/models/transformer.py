"""Decoder-only transformer built from a :class:`~lengen_core.config.RunConfig`.

Pre-norm blocks (mixer + MLP); every positional effect comes from
``position_ids: [B, T]`` through one :class:`PositionalTerms`. For predictive
position coupling a second head predicts the *next* token's position id
(a classification over ``0..max_position-1``; Golowich et al. 2025).

Decoding goes through :meth:`Transformer.start_decoding`: the
:class:`~lengen_core.models.decoding.Decoder` it returns keeps the KV caches
and feeds each step its own slice of the positional terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from lengen_core.config import ModelConfig, PositionConfig
from lengen_core.models.attention import DenseAttention, LayerCache, MixerContext, log_length_factor
from lengen_core.models.decoding import Decoder
from lengen_core.models.norms import make_norm
from lengen_core.positions import PositionalTerms, PositionScheme
from lengen_core.vocab import SINGLE_TASK_VOCAB_SIZE


@dataclass
class ModelOutput:
    """logits: [B, T, V]; position_logits: [B, T, P] (predictive coupling) or None;
    layers: per layer, what the mixer returned for drawing (``{"attention": [B, H, T, T]}``,
    HSA selections, ...) when ``return_attention`` was set, else None."""

    logits: torch.Tensor
    position_logits: torch.Tensor | None
    layers: list[dict[str, torch.Tensor] | None] | None


def make_mixer(model_config: ModelConfig, position_config: PositionConfig, layer_index: int) -> nn.Module:
    """The sequence mixer of one layer: dense attention or HSA (with its local mixer)."""
    if model_config.attention == "hsa":
        from lengen_core.models.hsa import HSAMixer

        return HSAMixer(model_config, position_config, layer_index)
    return DenseAttention(model_config.d_model, model_config.n_heads, model_config.dropout)


class Block(nn.Module):
    def __init__(self, model_config: ModelConfig, position_config: PositionConfig, layer_index: int) -> None:
        super().__init__()
        self.norm1 = make_norm(model_config.norm, model_config.d_model)
        self.mixer = make_mixer(model_config, position_config, layer_index)
        self.norm2 = make_norm(model_config.norm, model_config.d_model)
        self.mlp = nn.Sequential(
            nn.Linear(model_config.d_model, model_config.d_ff), nn.GELU(), nn.Linear(model_config.d_ff, model_config.d_model), nn.Dropout(model_config.dropout)
        )

    def forward(self, x: torch.Tensor, context: MixerContext, cache: LayerCache | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """x: [B, T, d] -> [B, T, d] and what the mixer returned for drawing; ``cache``: this layer's, or None."""
        mixed, info = self.mixer(self.norm1(x), context, cache)
        x = x + mixed
        x = x + self.mlp(self.norm2(x))
        return x, info


class Transformer(nn.Module):
    """The model. ``forward(input_ids, position_ids)`` -> :class:`ModelOutput`."""

    def __init__(self, model_config: ModelConfig, scheme: PositionScheme, vocab_size: int = SINGLE_TASK_VOCAB_SIZE) -> None:
        super().__init__()
        self.model_config = model_config
        self.scheme = scheme
        position_config = scheme.config
        self.token_embedding = nn.Embedding(vocab_size, model_config.d_model)
        self.terms = PositionalTerms(
            scheme.encoding,
            d_model=model_config.d_model,
            n_heads=model_config.n_heads,
            max_position=position_config.max_position,
            rope_base=position_config.rope_base,
            fire_hidden=position_config.fire_hidden,
        )
        self.blocks = nn.ModuleList(Block(model_config, position_config, index) for index in range(model_config.n_layers))
        self.final_norm = make_norm(model_config.norm, model_config.d_model)
        self.lm_head = nn.Linear(model_config.d_model, vocab_size, bias=False)
        self.position_head = nn.Linear(model_config.d_model, position_config.max_position, bias=False) if scheme.predicts_positions else None
        self.apply(_init_weights)

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        *,
        key_padding_mask: torch.Tensor | None = None,
        return_attention: bool = False,
        backend: str = "auto",
        caches: list[LayerCache] | None = None,
        attention_bias: torch.Tensor | None = None,
        segment_ids: torch.Tensor | None = None,
    ) -> ModelOutput:
        """input_ids, position_ids: [B, T]; key_padding_mask: [B, T_keys] bool (True = real) or None.

        Incremental decoding passes ``caches`` (one :class:`LayerCache` per layer,
        see :meth:`new_caches`): ``input_ids``/``position_ids`` are then only the
        new tokens, ``key_padding_mask`` covers every key so far, and
        ``attention_bias`` (``[B, H, T_new, T_keys]``, the rows of the new tokens)
        replaces the bias the model would compute from ``position_ids``.
        :meth:`start_decoding` does this bookkeeping.

        ``segment_ids`` ([B, T] long) marks the examples of packed training rows
        (:func:`lengen_core.training.pack_batch`): each attends only within itself.
        Dense attention only (:attr:`can_pack`).
        """
        if segment_ids is not None and not self.can_pack:
            raise ValueError("HSA layers run along the whole row: packed rows need dense attention")
        if caches is not None and not self.supports_cache:
            raise ValueError("HSA layers keep no KV cache: decode them without caches (start_decoding does)")
        x = self.token_embedding(input_ids)  # [B, T, d]
        position_embedding = self.terms.embed(position_ids)
        if position_embedding is not None:
            x = x + position_embedding
        if caches is None and attention_bias is None:
            attention_bias = self.terms.attention_bias(position_ids)
        length_factor = None
        if self.model_config.length_scaling == "log":
            new_tokens = input_ids.shape[1]
            key_length = new_tokens + (caches[0].length if caches else 0)
            length_factor = log_length_factor(new_tokens, key_length, key_padding_mask, input_ids.device, segment_ids)  # [B or 1, 1, T, 1]
        context = MixerContext(
            position_ids=position_ids,
            terms=self.terms,
            attention_bias=attention_bias,
            key_padding_mask=key_padding_mask,
            return_attention=return_attention,
            backend=backend,
            length_factor=length_factor,
            segment_ids=segment_ids,
        )
        layer_caches = caches if caches is not None else [None] * len(self.blocks)
        layers: list[dict[str, torch.Tensor] | None] = []
        for block, cache in zip(self.blocks, layer_caches, strict=True):
            x, info = block(x, context, cache)
            layers.append(info)
        hidden = self.final_norm(x)
        return ModelOutput(
            logits=self.lm_head(hidden),
            position_logits=self.position_head(hidden) if self.position_head is not None else None,
            layers=layers if return_attention else None,
        )

    @property
    def supports_cache(self) -> bool:
        """Whether every layer can decode incrementally with a :class:`LayerCache`."""
        return all(isinstance(block.mixer, DenseAttention) for block in self.blocks)

    @property
    def can_pack(self) -> bool:
        """Whether training rows may hold several examples (``segment_ids``): dense attention masks them apart."""
        return self.model_config.attention == "dense"

    @property
    def chunk_aligned(self) -> bool:
        """HSA chunks are fixed token spans, so left padding would move them: decode equal-length prompts together."""
        return self.model_config.attention == "hsa"

    def new_caches(self) -> list[LayerCache]:
        """One empty :class:`LayerCache` per layer."""
        return [LayerCache() for _ in self.blocks]

    def start_decoding(
        self, prompt: torch.Tensor, position_ids: torch.Tensor, *, key_padding_mask: torch.Tensor | None = None, use_cache: bool = True
    ) -> Decoder:
        """Start decoding a batch: prompt: [B, P] (left-padded); position_ids: [B, P + A], the ids of
        the prompt and of the A slots to generate; key_padding_mask: [B, P] (True = real) or None.

        See :class:`~lengen_core.models.decoding.Decoder` (``use_cache=False``, or a
        model without :attr:`supports_cache`, re-runs the whole prefix each step).
        """
        return Decoder(self, prompt, position_ids, key_padding_mask=key_padding_mask, use_cache=use_cache)

    def parameter_count(self) -> int:
        return sum(parameter.numel() for parameter in self.parameters())


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, std=0.02)


def build_model(model_config: ModelConfig, scheme: PositionScheme, vocab_size: int = SINGLE_TASK_VOCAB_SIZE) -> Transformer:
    """The model; ``vocab_size`` is :func:`lengen_core.vocab.model_vocab_size` of the run (larger for a mixture)."""
    return Transformer(model_config, scheme, vocab_size)
