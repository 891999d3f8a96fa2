"""A Keras 3 text classifier on the JAX backend, quantized with ``model.quantize``.

Token embedding, one multi-head self-attention block (``keras.layers.
MultiHeadAttention``: EinsumDense projections), a two-layer MLP, mean
pooling and a 2-way dense head. ``acecost_model()`` returns the model and
its input spec; acecost calls it through Keras' own JAX idiom,
``model.stateless_call(trainable_variables, non_trainable_variables, x)``,
with the variables as abstract arguments named by their Keras paths
(``attn/query/kernel``). The model is never run on data.

``mode`` is what ``model.quantize`` gets: ``"int8"`` (the default here:
int8 kernels and per-row int8 inputs, 8 x 8 bits), ``"int4"`` (packed 4-bit
weights, float inputs), ``"float8"`` (e4m3 inputs and kernels) or
``"float"`` for none. The attention score and value einsums stay float in
every mode. Keras builds (allocates) the weights of a model when it is
created, and ``quantize`` computes the codes from them: a few hundred
kilobytes here.

    acecost analyze examples/keras_classifier.py

acecost sets ``KERAS_BACKEND=jax`` before it imports a model file, so the
``import keras`` below gets the JAX backend whatever ~/.keras/keras.json says.
"""
import jax
import jax.numpy as jnp
import keras

VOCAB, SEQ, DIM, HEADS, MLP, CLASSES = 1000, 32, 64, 4, 128, 2


def build(mode: str = "int8") -> keras.Model:
    tokens = keras.Input((SEQ,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(VOCAB, DIM, name="embed")(tokens)
    a = keras.layers.MultiHeadAttention(HEADS, DIM // HEADS, name="attn")(x, x)
    x = keras.layers.LayerNormalization(name="ln1")(keras.layers.Add()([x, a]))
    h = keras.layers.Dense(MLP, activation="relu", name="mlp_in")(x)
    h = keras.layers.Dense(DIM, name="mlp_out")(h)
    x = keras.layers.LayerNormalization(name="ln2")(keras.layers.Add()([x, h]))
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    model = keras.Model(tokens, keras.layers.Dense(CLASSES, name="head")(x), name="classifier")
    if mode != "float":
        model.quantize(mode)
    return model


def acecost_model(mode: str = "int8"):
    return build(mode), jax.ShapeDtypeStruct((1, SEQ), jnp.int32)
