"""Llama-3-70B shape (80 layers, d 8192, GQA 64/8 heads, SwiGLU 28672), layers unrolled; batch 1, 128 tokens."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _llm import LLAMA3_70B, Decoder, target  # noqa: E402


def acecost_model():
    return target(Decoder(LLAMA3_70B, scan=False))
