"""The transformer (and hybrid) built from a config."""

from lengen_core.models.attention import DenseAttention, LayerCache, MixerContext
from lengen_core.models.decoding import Decoder, DecodeStep
from lengen_core.models.transformer import ModelOutput, Transformer, build_model

__all__ = ["DecodeStep", "Decoder", "DenseAttention", "LayerCache", "MixerContext", "ModelOutput", "Transformer", "build_model"]
