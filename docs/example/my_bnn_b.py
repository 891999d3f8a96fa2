"""An illustrative model for docs/pareto.png: the bundled PokeBNN architecture at width 1.25.

It stands for "your model" in the README figure. It is not a published
model and was never trained: its accuracy in results.csv is made up to
show what the plot looks like. Only its costs are real (acecost computes
them from this file).

    acecost analyze docs/example/my_bnn_b.py
"""
from acecost.zoo import pokebnn

WIDTH = 1.25


def acecost_model():
    return pokebnn(WIDTH, name="my-bnn-b").build()
