"""The HSA mixer: hierarchical sparse attention over past chunks + a local mixer for the current chunk.

Structure, following the official RAMba / SWA-HSA code (RamstorageAI/long-context-modeling,
``model/hsa_layers.py``: ``ChunkingLayer``, ``RetrievalLayer``, ``HierarchicalSparseAttention``):

- chunk memory (``ChunkingLayer``): the layer input is normalised (RMSNorm); chunk i =
  tokens [i*S, (i+1)*S); keys/values ``proj_k``, ``proj_v`` of the (encoded) tokens, split
  into ``kv_heads``; each complete chunk's landmark is ``lmk_ln(mean of its tokens)``
  (``landmark="mean"``) or ``lmk_ln`` of a CLS token appended to the chunk and run
  through a small bidirectional encoder with the chunk's tokens (``landmark="encoder"``;
  the encoder's token outputs then also feed the keys/values, as in the official code);
- retrieval (``RetrievalLayer``): ``landmark_q = ln(RMSNorm(x))`` per KV head; top-K
  visible chunks, recency order, stick-breaking (or softmax) chunk weights
  (:func:`kernels.hsa.hsa`);
- sparse attention (``HierarchicalSparseAttention``): ``q = q_proj(RMSNorm(x))``,
  a softmax inside each selected chunk, outputs mixed by the chunk weights, ``o_proj``.

Our choices, where we depart from the official code to fit one pluggable
per-layer mixer: each HSA layer builds its own chunk memory from its own input
(the official model builds it once, in a chunking layer between the lower and
upper layers, and shares it); the HSA output is *added* to the local mixer's
output in the same residual branch; only the upper half of the layers carry HSA
(the lower half are local-only), mirroring the official lower/upper split; the
encoder has one layer.
"""

from __future__ import annotations

import torch
from torch import nn

from kernels.hsa import hsa
from lengen_core.config import ModelConfig, PositionConfig
from lengen_core.models.attention import LayerCache, MixerContext
from lengen_core.models.local_mixers import GatedRecurrence, SlidingWindowAttention
from lengen_core.models.norms import RMSNorm


class ChunkMemory(nn.Module):
    """Keys, values and landmarks of the chunks of a sequence."""

    def __init__(self, d_model: int, n_heads: int, kv_heads: int, retrieval_dim: int, chunk_size: int, landmark: str) -> None:
        super().__init__()
        self.chunk_size = chunk_size
        self.kv_heads = kv_heads
        self.head_dim = d_model // n_heads
        self.retrieval_dim = retrieval_dim
        self.norm = RMSNorm(d_model)
        self.proj_k = nn.Linear(d_model, kv_heads * self.head_dim, bias=False)
        self.proj_v = nn.Linear(d_model, kv_heads * self.head_dim, bias=False)
        self.lmk_ln = nn.Linear(d_model, kv_heads * retrieval_dim, bias=False)
        self.landmark = landmark
        if landmark == "encoder":
            self.cls = nn.Parameter(torch.randn(d_model) * 0.02)
            self.encoder = nn.TransformerEncoderLayer(
                d_model, nhead=max(1, n_heads), dim_feedforward=2 * d_model, dropout=0.0, batch_first=True, norm_first=True
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: [B, T, d] -> k, v: [B, T, H_kv, D]; landmarks: [B, C, H_kv, D_r] for the C = T // S complete chunks."""
        batch, length, width = x.shape
        size = self.chunk_size
        chunks = length // size
        hidden = self.norm(x)  # [B, T, d]
        complete = hidden[:, : chunks * size].reshape(batch, chunks, size, width)  # [B, C, S, d]
        if self.landmark == "encoder" and chunks:
            tokens = complete.reshape(batch * chunks, size, width)
            with_cls = torch.cat([tokens, self.cls.expand(batch * chunks, 1, width)], dim=1)  # [B*C, S+1, d]
            encoded = self.encoder(with_cls)
            summary = encoded[:, -1].reshape(batch, chunks, width)  # CLS outputs
            encoded_tokens = encoded[:, :-1].reshape(batch, chunks * size, width)
            hidden = torch.cat([encoded_tokens, hidden[:, chunks * size :]], dim=1)
        else:
            summary = complete.mean(dim=2)  # [B, C, d]
        k = self.proj_k(hidden).view(batch, length, self.kv_heads, self.head_dim)
        v = self.proj_v(hidden).view(batch, length, self.kv_heads, self.head_dim)
        landmarks = self.lmk_ln(summary).view(batch, chunks, self.kv_heads, self.retrieval_dim)
        return k, v, landmarks


class HSABranch(nn.Module):
    """Retrieval + sparse attention over the complete past chunks."""

    def __init__(self, model_config: ModelConfig) -> None:
        super().__init__()
        settings = model_config.hsa
        self.settings = settings
        self.n_heads = model_config.n_heads
        self.head_dim = model_config.head_dim
        self.memory = ChunkMemory(model_config.d_model, model_config.n_heads, settings.kv_heads, settings.retrieval_dim, settings.chunk_size, settings.landmark)
        self.query_norm = RMSNorm(model_config.d_model)
        self.retrieval_query = nn.Linear(model_config.d_model, settings.kv_heads * settings.retrieval_dim, bias=False)
        self.q_proj = nn.Linear(model_config.d_model, model_config.d_model, bias=False)
        self.o_proj = nn.Linear(model_config.d_model, model_config.d_model, bias=False)

    def forward(self, x: torch.Tensor, return_selection: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        batch, length, width = x.shape
        settings = self.settings
        k, v, landmarks = self.memory(x)
        normed = self.query_norm(x)
        landmark_q = self.retrieval_query(normed).view(batch, length, settings.kv_heads, settings.retrieval_dim)
        q = self.q_proj(normed).view(batch, length, self.n_heads, self.head_dim)
        out, selection = hsa(q, k, v, landmark_q, landmarks, settings.chunk_size, settings.top_k, settings.weighting, return_selection=True)
        info = None
        if return_selection:
            info = {"hsa_indices": selection.indices, "hsa_weights": selection.weights, "hsa_scores": selection.scores}
        return self.o_proj(out.reshape(batch, length, width)), info


class HSAMixer(nn.Module):
    """Local mixer (+ HSA on the upper layers), the ``model.attention == "hsa"`` sequence mixer."""

    def __init__(self, model_config: ModelConfig, position_config: PositionConfig, layer_index: int) -> None:
        super().__init__()
        settings = model_config.hsa
        if settings.local_mixer == "swa":
            self.local: nn.Module = SlidingWindowAttention(model_config.d_model, model_config.n_heads, settings.window)
        else:
            self.local = GatedRecurrence(model_config.d_model)
        self.uses_hsa = layer_index >= model_config.n_layers // 2
        self.hsa = HSABranch(model_config) if self.uses_hsa else None

    def forward(self, x: torch.Tensor, context: MixerContext, cache: LayerCache | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor] | None]:
        """x: [B, T, d] -> [B, T, d] and, with ``return_attention``, what the layer shows: the HSA selections
        (upper layers) and the sliding window's attention map (``"attention"``, ``[B, H, T, T]``), else None.

        ``cache`` is always None: HSA layers keep no KV cache (``Transformer.supports_cache``
        is False), so decoding re-runs the whole prefix each step.
        """
        if isinstance(self.local, SlidingWindowAttention):
            out = self.local(x, context.position_ids, context.terms.rope_base, context.key_padding_mask)
        else:
            out = self.local(x)
        info = None
        if self.hsa is not None:
            retrieved, info = self.hsa(x, context.return_attention)
            out = out + retrieved
        if context.return_attention and isinstance(self.local, SlidingWindowAttention):  # the window's map, for drawing
            window_map = self.local.attention_map(x, context.position_ids, context.terms.rope_base, context.key_padding_mask)
            info = {**(info or {}), "attention": window_map}
        return out, info
