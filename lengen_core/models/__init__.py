"""The transformer (and hybrid) built from a config."""

from lengen_core.models.attention import DenseAttention, LayerCache, MixerContext
from lengen_core.models.transformer import ModelOutput, Transformer, build_model

__all__ = ["DenseAttention", "LayerCache", "MixerContext", "ModelOutput", "Transformer", "build_model"]
