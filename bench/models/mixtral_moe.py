"""Mixtral-like MoE (8 experts, top-2, d 4096, SwiGLU 14336; 8 layers), unrolled; batch 1, 128 tokens."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _llm import MIXTRAL, Decoder, target  # noqa: E402


def acecost_model():
    return target(Decoder(MIXTRAL, scan=False))
