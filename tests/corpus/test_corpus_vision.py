"""Convolutional networks of flaxmodels and dm-haiku at ImageNet size.

``flaxmodels`` ResNet-18 and VGG-16 are built with ``pretrained=None`` (no
checkpoint is fetched); haiku's ``hk.nets.ResNet50``, ``MobileNetV1`` and
``MLP`` go through ``hk.transform`` with ``jax.eval_shape`` of their init.
Training steps (``analyze_train``) of the MLP and of a small-input ResNet-18
price the backward pass too. The analysis
is abstract, so a 224x224 input costs no more to analyse than a small one and
the totals are the familiar published ones, derived here from the
architectures' definitions (``corpus_common.resnet``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import acecost
from acecost.engine.names import base_name
from corpus_common import (FLOAT_BITS, Layers, abstract, check, conv_out, float_size, leaf_count, need,
                           resnet, sds)

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning"),
              pytest.mark.filterwarnings("ignore::UserWarning")]

ACE = FLOAT_BITS * FLOAT_BITS
IMAGE = sds((1, 224, 224, 3))


def flaxmodels_variables(model, x):
    return abstract(jax.eval_shape(lambda k: model.init(k, jnp.zeros(x.shape), train=False), jax.random.PRNGKey(0)))


# -------------------------------------------------------------- flaxmodels

def test_flaxmodels_resnet18():
    need("flaxmodels")
    import flaxmodels

    model = flaxmodels.ResNet18(pretrained=None, output="logits", num_classes=1000)
    variables = flaxmodels_variables(model, IMAGE)
    rep = acecost.analyze(lambda v, x: model.apply(v, x, train=False), variables, IMAGE)
    net = resnet(224, (2, 2, 2, 2), bottleneck=False, classes=1000)
    assert net.macs == 1_814_073_344  # ResNet-18's well-known 1.82 GMACs
    check(rep, macs=net.macs, ace=ACE * net.macs, size_bits=float_size(net.kernels, leaf_count(variables)))


def test_flaxmodels_vgg16():
    need("flaxmodels")
    import flaxmodels

    model = flaxmodels.VGG16(pretrained=None, output="logits", include_head=True, num_classes=1000)
    variables = flaxmodels_variables(model, IMAGE)
    rep = acecost.analyze(lambda v, x: model.apply(v, x, train=False), variables, IMAGE)
    net, h, cin = Layers(), 224, 3
    for width, convs in ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)):  # 3x3 SAME convs, 2x2 pools
        for _ in range(convs):
            net.conv(1, h, h, cin, width, 3, 3)
            cin = width
        h = conv_out(h, 2, 2, 0)
    for fin, fout in ((7 * 7 * 512, 4096), (4096, 4096), (4096, 1000)):
        net.dense(1, fin, fout)
    assert net.macs == 15_470_264_320  # VGG-16's well-known 15.5 GMACs
    check(rep, macs=net.macs, ace=ACE * net.macs, size_bits=float_size(net.kernels, leaf_count(variables)))


# ------------------------------------------------------------------- haiku

def haiku_inference(network: str):
    """A haiku.nets model at inference: (apply, abstract params, abstract state)."""
    need("haiku")
    import haiku as hk

    net_fn = hk.transform_with_state(
        lambda x, training: getattr(hk.nets, network)(num_classes=1000)(x, is_training=training))
    params, state = jax.eval_shape(lambda k: net_fn.init(k, jnp.zeros(IMAGE.shape), True), jax.random.PRNGKey(0))

    def fn(params, state, x):
        return net_fn.apply(params, state, None, x, False)[0]

    return fn, abstract(params), abstract(state)


def test_haiku_resnet50():
    fn, params, state = haiku_inference("ResNet50")
    rep = acecost.analyze(fn, params, state, IMAGE)  # size: the parameters (argument 0), not the EMA state
    net = resnet(224, (3, 4, 6, 3), bottleneck=True, classes=1000)
    assert net.macs == 4_089_184_256  # ResNet-50 v1.5's well-known 4.09 GMACs
    check(rep, macs=net.macs, ace=ACE * net.macs, size_bits=float_size(net.kernels, leaf_count(params)))


def test_haiku_mobilenet_v1():
    # depthwise-separable convs: the depthwise 3x3 has one input channel per
    # group (feature_group_count = channels)
    fn, params, state = haiku_inference("MobileNetV1")
    rep = acecost.analyze(fn, params, state, IMAGE)
    net = Layers()
    h = conv_out(224, 3, 2, 0)  # 3x3/2 VALID stem to 32 channels
    net.conv(1, h, h, 3, 32, 3, 3)
    cin = 32
    strides = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
    channels = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
    for stride, cout in zip(strides, channels):
        h = conv_out(h, 3, stride, 2)
        net.conv(1, h, h, 1, cin, 3, 3)  # depthwise: 1 input channel per output channel
        net.conv(1, h, h, cin, cout, 1, 1)  # pointwise
        cin = cout
    net.dense(1, cin, 1000)
    check(rep, macs=net.macs, ace=ACE * net.macs, size_bits=float_size(net.kernels, leaf_count(params)))
    assert len(rep.layers) == 2 + 2 * len(strides)


MLP_DIMS, MLP_BATCH = (20, 64, 32, 10), 4


def haiku_mlp():
    need("haiku")
    import haiku as hk

    mlp = hk.without_apply_rng(hk.transform(lambda x: hk.nets.MLP(MLP_DIMS[1:])(x)))
    x = sds((MLP_BATCH, MLP_DIMS[0]))
    return mlp.apply, abstract(jax.eval_shape(mlp.init, jax.random.PRNGKey(0), x)), x


def test_haiku_mlp_inference_and_training_step():
    apply, params, x = haiku_mlp()
    forward = [MLP_BATCH * a * b for a, b in zip(MLP_DIMS[:-1], MLP_DIMS[1:])]
    kernels = sum(a * b for a, b in zip(MLP_DIMS[:-1], MLP_DIMS[1:]))
    size = float_size(kernels, leaf_count(params))
    check(acecost.analyze(apply, params, x), macs=sum(forward), ace=ACE * sum(forward), size_bits=size)

    train = acecost.analyze_train(apply, params, x)
    # backward: every layer's weight gradient, and the input gradient of all
    # but the first layer (the data needs none)
    backward = sum(forward) + sum(forward[1:])
    check(train, macs=sum(forward) + backward, ace=ACE * (sum(forward) + backward), size_bits=size)
    assert train.phases["forward"]["macs"] == sum(forward)
    assert train.phases["backward"]["macs"] == backward
    assert sum(r.phase == "backward" for r in train.layers) == 2 * len(forward) - 1


def flaxmodels_resnet18_training_step():
    need("flaxmodels")
    import flaxmodels

    model = flaxmodels.ResNet18(pretrained=None, output="logits", num_classes=10)
    x = sds((2, 32, 32, 3))
    variables = flaxmodels_variables(model, x)

    def fn(params, batch_stats, x):
        return model.apply({"params": params, "batch_stats": batch_stats}, x, train=False)

    rep = acecost.analyze_train(fn, variables["params"], variables["batch_stats"], x)
    return rep, resnet(32, (2, 2, 2, 2), bottleneck=False, classes=10, batch=2)


STEM_32 = 2 * 16 * 16 * 64 * 7 * 7 * 3  # batch 2, 32x32 input: 16x16 stem output


def test_flaxmodels_resnet18_training_step():
    # backward: a weight gradient for every conv and the classifier, an input
    # gradient for all but the stem (the data needs none); in the scatter form
    # each of them costs what its forward contraction costs
    rep, net = flaxmodels_resnet18_training_step()
    assert rep.phases["backward"]["macs"] == 2 * net.macs - STEM_32
    check(rep, macs=3 * net.macs - STEM_32, ace=ACE * (3 * net.macs - STEM_32))


def test_flaxmodels_resnet18_training_step_forward_and_weight_gradients():
    # what holds today: the forward pass, and every weight gradient (a
    # backward conv whose output is a kernel, leading dim 1, 3 or 7, not the
    # batch of 2) costs what its forward conv costs
    rep, net = flaxmodels_resnet18_training_step()
    assert rep.phases["forward"]["macs"] == net.macs
    forward = {r.name: r.macs for r in rep.layers if r.phase == "forward" and r.primitive == "conv_general_dilated"}
    kernel_grads = {base_name(r.name): r.macs for r in rep.layers if r.phase == "backward"
                    and r.primitive == "conv_general_dilated" and r.out_shape[0] != 2}
    assert kernel_grads == forward
