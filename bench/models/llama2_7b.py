"""Llama-2-7B shape (32 layers, d 4096, SwiGLU 11008), layers unrolled; batch 1, 128 tokens."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _llm import LLAMA2_7B, Decoder, target  # noqa: E402


def acecost_model():
    return target(Decoder(LLAMA2_7B, scan=False))
