"""Llama-2-7B shape (unrolled) quantized by Qwix PTQ, w8a8: int8 weight codes (QArray) and int8 activations."""
import os
import sys

import jax
import jax.numpy as jnp
import qwix

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _llm import BATCH, LLAMA2_7B, SEQ, Decoder  # noqa: E402


def acecost_model():
    rule = qwix.QuantizationRule(module_path=".*", weight_qtype=jnp.int8, act_qtype=jnp.int8)
    model = qwix.quantize_model(Decoder(LLAMA2_7B), qwix.PtqProvider([rule]))
    tokens = jax.ShapeDtypeStruct((BATCH, SEQ), jnp.int32)
    variables = jax.eval_shape(model.init, jax.random.key(0), tokens)
    return model.apply, (variables, tokens)
