"""``acecost.analyze``: trace -> infer bits -> count costs -> Report."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Iterable

from acecost.engine.values.levels import STORAGE_WIDTH, Levels, dtype_bits, dtype_name, is_integer_dtype, normalize, unknown
from acecost.engine.values.value import make_value
from acecost.errors import AcecostError
from acecost.engine.gcpause import paused
from acecost.engine.grad_names import gradient_kinds, gradient_layers
from acecost.engine.walker import Interpreter, Options
from acecost.options import ENGINE_OPTIONS, OPTION, compile_overrides
from acecost.report.build import build_report, phase_totals
from acecost.report.traffic import elements
from acecost.report.model import BitsOrigin, FallbackCause, Report
from acecost.engine.tally import Tally
from acecost.engine.measured import WeightFacts
from acecost.load.trace import concrete_params, leaves_of, trace

Override = tuple[re.Pattern, int | None, int | None]


def parse_override(spec: str) -> Override:
    """``'REGEX=A,W'`` -> (pattern, a_bits, w_bits); an empty side keeps inference.

    The same parser as the command line's ``--bits`` and the config's ``bits``.
    """
    from acecost.options import parse_bits_override

    pattern, a, w = parse_bits_override(spec, "--bits")
    return re.compile(pattern), a, w


def _overrides(items: list) -> list[Override]:
    """Checked overrides (``'REGEX=A,W'`` strings, ``(regex, A, W)`` triples), their regexes compiled."""
    return compile_overrides(items)


def _options(**given) -> Options:
    """The engine's options from the API's keywords, each checked by its entry of
    :data:`acecost.options.OPTIONS`: the command line's values and messages, so a value the
    command line refuses is refused here too."""
    values = {o.api_name: o.check(given[o.api_name], o.api_name) for o in ENGINE_OPTIONS if o.api_name in given}
    values["overrides"] = _overrides(values.get("overrides", []))
    return Options(**values)


def _gc_paused(fn):
    """``fn`` with the cyclic collector paused for the trace and the walk (see :mod:`acecost.engine.gcpause`)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with paused():
            return fn(*args, **kwargs)

    return wrapper


@_gc_paused
def analyze(fn, *args, float_bits: int | str = 16, params_argnums: Iterable[int] = (0,),
            overrides=None, while_trips: int | None = None, name: str | None = None,
            cond: str = "max", scales: str = "strict", levels: str | None = None,
            sparsity: str | None = None, weights=None, hardware: str | None = None) -> Report:
    """Cost of ``fn(*args)``: MACs, ACE, BOPs, CPU64, size and elementwise work.

    ``args`` leaves may be arrays or ``jax.ShapeDtypeStruct``; the function is
    traced abstractly, never run. Leaves of the arguments in
    ``params_argnums`` are the parameters (for size and layer names).
    ``overrides`` maps a layer-name regex to ``(activation_bits,
    weight_bits)`` (or is a list of ``'REGEX=A,W'`` strings); overrides and
    :func:`acecost.tag` win over inference. ``while_trips`` gives the trip
    count of while loops whose count is not static. ``cond`` says which
    branch of a ``cond`` with a run-time index counts: ``"max"`` the
    costliest, ``"quantized"`` the one whose outputs carry the fewest bits.
    ``scales="codes"`` prices a quantized operand by its codes even where its
    scale varies along the contraction (``"strict"`` prices it as float).
    ``weights`` gives the parameters' values: a checkpoint file (``.npz``,
    ``.safetensors``, Flax ``.msgpack``, an Orbax directory) or a mapping of
    parameter path to array; without it, parameters given as arrays are the
    weights (see :mod:`acecost.load.weights`). Concrete weights can be
    measured: ``levels="measured"`` prices a weight operand at no more bits
    than its distinct values per output channel need, ``sparsity="discount"``
    counts only the multiplications by a nonzero weight (see docs/metrics.md,
    "Measured weights").
    ``hardware`` (a bundled device name or a TOML/JSON file) adds each layer's roofline time.
    """
    options = _options(float_bits=float_bits, overrides=overrides, while_trips=while_trips, cond=cond,
                       scales=scales, levels=levels, sparsity=sparsity, hardware=hardware)  # bad options fail before tracing
    argnums = _argnums(params_argnums, args)
    source = _weights_source(weights)  # so does a checkpoint that cannot be read
    return _analyze_closed(trace(fn, args), args, options, argnums, name, fn, source)


@_gc_paused
def analyze_jaxpr(closed_jaxpr, *args, float_bits: int | str = 16, params_argnums: Iterable[int] = (0,),
                  overrides=None, while_trips: int | None = None, name: str | None = None,
                  cond: str = "max", scales: str = "strict", levels: str | None = None,
                  sparsity: str | None = None, weights=None, hardware: str | None = None) -> Report:
    """:func:`analyze` of a jaxpr already traced, e.g. ``jax.make_jaxpr(fn)(*args)``.

    ``args`` are the arguments it was traced with (arrays or
    ``ShapeDtypeStruct``s): their pytree names the parameters and layers.
    """
    from jax import tree_util
    from jax.extend.core import ClosedJaxpr

    if not isinstance(closed_jaxpr, ClosedJaxpr):
        raise AcecostError(f"analyze_jaxpr expects a ClosedJaxpr, e.g. jax.make_jaxpr(fn)(*args); "
                           f"got {type(closed_jaxpr).__name__}")
    n_leaves, n_inputs = len(tree_util.tree_leaves(args)), len(closed_jaxpr.jaxpr.invars)
    if n_leaves != n_inputs:
        raise AcecostError(f"the jaxpr takes {n_inputs} inputs but the arguments given have {n_leaves} "
                           "leaves: pass the arguments it was traced with")
    options = _options(float_bits=float_bits, overrides=overrides, while_trips=while_trips, cond=cond,
                       scales=scales, levels=levels, sparsity=sparsity, hardware=hardware)
    return _analyze_closed(closed_jaxpr, args, options, _argnums(params_argnums, args), name, None,
                           _weights_source(weights))


@dataclass(frozen=True)
class Traced:
    """A target traced once, to be walked under several options (:func:`walk_traced`)."""

    target: object
    closed: object
    argnums: tuple[int, ...]


@_gc_paused
def trace_target(target) -> Traced:
    """Trace an inference target's function once (as :func:`analyze` does)."""
    argnums = _argnums(target.params_argnums, target.args)
    return Traced(target, trace(target.fn, target.args), argnums)


@_gc_paused
def walk_traced(traced: Traced, weights=None, **options) -> Report:
    """:func:`analyze_target` of a traced target, with the API's option keywords, not traced again."""
    target = traced.target
    return _analyze_closed(traced.closed, target.args, _options(**options), traced.argnums, target.name, target.fn,
                           _weights_source(weights))


def _argnums(params_argnums: Iterable[int], args: tuple) -> tuple[int, ...]:
    """Parameter argument indices, each naming an argument (a wrong one would silently drop the size)."""
    argnums = tuple(params_argnums)
    for i in argnums:
        if not isinstance(i, int) or isinstance(i, bool) or args and not 0 <= i < len(args):
            raise AcecostError(f"params_argnums {argnums} names argument {i!r}, but there are {len(args)} "
                               "argument(s)")
    return argnums


def _analyze_closed(closed, args, options: Options, params_argnums: tuple, name, fn=None,
                    source=None) -> Report:
    """``source``: the checkpoint or mapping given as ``weights`` (None: the arrays among ``args``)."""
    leaves = leaves_of(args, params_argnums, fn)
    tally = Tally()
    interp, inputs = _prepare(closed, leaves, options, _weights(source, args, leaves))
    interp.run(closed.jaxpr, closed.consts, inputs, "", tally)
    read = interp.liveness.of(closed.jaxpr).used_inputs
    del interp, inputs  # freed by reference counting before the report is built
    return _noted(build_report(tally, leaves, options, name, _unread(leaves, read)), source)


def _weights_source(weights):
    """``weights`` checked: a checkpoint opened (its index read, so a bad file fails before the
    trace), a mapping of arrays, or None."""
    from acecost.load.weights import open_checkpoint

    value = OPTION["weights"].check(weights, "weights")
    return open_checkpoint(value) if isinstance(value, str) else value


def _weights(source, args, leaves):
    """The concrete weights, parameter path -> array: ``source`` bound to the parameters (a
    missing, extra or mismatched key fails here), else the parameters given as arrays, else None."""
    from acecost.load.weights import bind

    return bind(source, leaves) if source is not None else concrete_params(args, leaves)


def _noted(report: Report, source) -> Report:
    """The report names the checkpoint its weights came from."""
    if source is not None:
        report.meta["weights"] = getattr(source, "path", "a mapping of arrays")
    return report


def _unread(leaves, read) -> set[str]:
    """Paths of the parameter leaves no live equation reads (they count nothing in size)."""
    return {lf.path for lf, r in zip(leaves, read) if lf is not None and lf.is_param and not r}


def _weight_facts(weights, leaves, options: Options) -> WeightFacts | None:
    """What measures the concrete weights, if any were given (refused when a measuring option
    is on and there are none: every number would silently be the inferred one)."""
    if not weights:
        wanted = [f"{k} {v!r}" for k, v in (("levels", options.levels), ("sparsity", options.sparsity))
                  if v in ("measured", "discount")]
        if wanted:
            raise AcecostError(f"{' and '.join(wanted)} need{'s' if len(wanted) == 1 else ''} the weights' "
                               "values, but no parameter is a concrete array: give the parameters as arrays "
                               "or read them from a checkpoint (--weights FILE)")
        return None
    return WeightFacts(weights, {lf.path: lf.shape for lf in leaves if lf is not None and lf.is_param})


def _prepare(closed, leaves, options, weights=None):
    """An interpreter and the abstract values of the jaxpr's inputs; ``weights`` maps parameter
    paths to concrete arrays (measured for ``levels`` / ``sparsity`` and the hints)."""
    jaxpr = closed.jaxpr
    if len(leaves) != len(jaxpr.invars):  # a leaf jax does not treat as an array
        leaves[:] = [None] * len(jaxpr.invars)
    param_sizes = {lf.path: elements(lf.shape) for lf in leaves if lf is not None and lf.is_param}
    interp = Interpreter(options, param_sizes)
    interp.weight_facts = _weight_facts(weights, leaves, options)
    # a function of its parameters alone has no inference to tell its preparation apart from:
    # all its work is priced as inference (see docs/design.md, "Weight preparation")
    interp.separate_prep = any(leaf is None or not leaf.is_param for leaf in leaves)
    interp.packed_widths = {lf.path: dtype_bits(lf.dtype) for lf in leaves
                            if lf is not None and lf.is_param and is_integer_dtype(lf.dtype)}
    inputs = []
    for i, (var, leaf) in enumerate(zip(jaxpr.invars, leaves)):
        aval = var.aval
        if leaf is not None and leaf.is_param:
            why = f"parameter '{leaf.path}' ({dtype_name(aval.dtype)}) is used without a quantizer"
            cause, origins, pname = FallbackCause.FLOAT_PARAMETER, {leaf.path}, leaf.path
        else:
            label = leaf.path if leaf is not None else f"arg{i}"
            why = f"model input '{label}' ({dtype_name(aval.dtype)}) is used without a quantizer"
            cause, origins, pname = FallbackCause.MODEL_INPUT, set(), None
        if leaf is not None and leaf.declared_bits is not None:
            lv = normalize(Levels(count=2 ** leaf.declared_bits,
                                  why=f"{leaf.declared_why} of '{leaf.path}'"), aval.dtype)
        elif leaf is not None and leaf.is_param and is_integer_dtype(aval.dtype):
            # e.g. AQT SERVE weights: int8 codes whose real width only the AQT config knows
            lv = normalize(unknown(f"{aval.dtype} parameter '{leaf.path}' {STORAGE_WIDTH}",
                                   integral=True, cause=BitsOrigin.STORAGE_WIDTH), aval.dtype)
        else:
            lv = normalize(unknown(why, cause=cause), aval.dtype)
        inputs.append(interp.register(make_value(aval.shape, aval.dtype, lv, None, origins, pname,
                                                 prep=pname is not None and interp.separate_prep)))
    return interp, inputs


@_gc_paused
def analyze_train(fn, *args, loss=None, float_bits: int | str = 16, params_argnums: Iterable[int] = (0,),
                  overrides=None, while_trips: int | None = None, name: str | None = None,
                  cond: str = "max", scales: str = "strict", levels: str | None = None,
                  sparsity: str | None = None, weights=None, hardware: str | None = None) -> Report:
    """Cost of one training step: ``value_and_grad`` of ``loss(fn(*args))`` w.r.t. the parameters.

    The forward pass and the backward pass are traced as two jaxprs joined
    by the residuals :func:`jax.vjp` saves, so the backward pass sees the
    bit structure of what the forward pass saved (quantized activations stay
    quantized) and quantized gradients written into custom VJPs show up as
    such. Records carry ``phase`` = "forward" or "backward" and
    ``report.phases`` holds each phase's totals. ``loss`` maps the model
    output to a scalar; by default the sum of squares of the output. Size is
    the parameters' storage, read from the forward pass as in inference; a
    weight gradient is named after the parameter it is the gradient of.
    ``weights`` as in :func:`analyze`.
    """
    import jax
    import jax.numpy as jnp

    from acecost.load.lift import abstractify

    options = _options(float_bits=float_bits, overrides=overrides, while_trips=while_trips, cond=cond,
                       scales=scales, levels=levels, sparsity=sparsity, hardware=hardware)
    argnums = _argnums(params_argnums, args)
    source = _weights_source(weights)
    loss = loss or (lambda out: sum(jnp.sum(jnp.square(o.astype(jnp.float32))) for o in jax.tree_util.tree_leaves(out)))
    abstract = abstractify(args)
    residual_tree = {}

    single = len(argnums) == 1

    def objective(params, rest):
        full = list(rest)
        for k, p in zip(argnums, (params,) if single else params):
            full[k] = p
        return loss(fn(*full))

    def forward(params, rest):
        value, vjp_fn = jax.vjp(lambda p: objective(p, rest), params)
        leaves, residual_tree["tree"] = jax.tree_util.tree_flatten(vjp_fn)
        return value, leaves

    params = abstract[argnums[0]] if single else tuple(abstract[k] for k in argnums)
    rest = tuple(None if k in argnums else a for k, a in enumerate(abstract))
    fwd_closed = trace(forward, (params, rest))
    value_aval = jax.ShapeDtypeStruct((), fwd_closed.out_avals[0].dtype)
    res_avals = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in fwd_closed.out_avals[1:]]

    def backward(residuals, cotangent):
        return jax.tree_util.tree_unflatten(residual_tree["tree"], residuals)(cotangent)

    bwd_closed = trace(backward, (res_avals, value_aval))
    leaves = _train_leaves(args, argnums, fn)
    fwd, bwd = Tally(), Tally()
    # bound by path: the arguments' own order (leaves_of), not the training leaves'
    interp, inputs = _prepare(fwd_closed, leaves, options, _weights(source, args, leaves_of(args, argnums, fn)))
    # residuals the backward pass never reads are dead in the forward pass too
    used_res = interp.liveness.of(bwd_closed.jaxpr).used_inputs[:len(res_avals)]
    fwd_used = (True, *used_res)
    outs = interp.run(fwd_closed.jaxpr, fwd_closed.consts, inputs, "", fwd, fwd_used)
    seed = interp.register(make_value((), value_aval.dtype, unknown("loss cotangent"), None))
    param_paths = [lf.path for lf in leaves if lf and lf.is_param]
    interp.grad_params = gradient_layers(bwd_closed.jaxpr, param_paths)
    interp.grad_kinds = gradient_kinds(bwd_closed.jaxpr, param_paths)
    interp.start_phase("backward")
    interp.run(bwd_closed.jaxpr, bwd_closed.consts, list(outs[1:]) + [seed], "", bwd)
    read = interp.liveness.of(fwd_closed.jaxpr, fwd_used).used_inputs
    del interp, inputs, outs, seed
    for r in bwd.records:
        r.phase = "backward"
    tally = Tally()
    tally.merge(fwd)
    tally.merge(bwd)
    # size is what is stored: the forward pass says at what width each parameter is
    # used; the backward pass reads the same stored parameters
    tally.param_bits = dict(fwd.param_bits)
    # a training step prepares its weights again on every step: that work stays in the totals
    report = build_report(tally, leaves, options, name, _unread(leaves, read), prep_in_totals=True)
    report.phases = {"forward": phase_totals(fwd), "backward": phase_totals(bwd)}
    report.meta["mode"] = "train"
    return _noted(report, source)


def _train_leaves(args, argnums, fn) -> list:
    """The leaves of ``(params, rest)`` in its flattening order, named as in inference
    (:func:`leaves_of` of the arguments as given), so size and names agree across modes."""
    import jax

    leaves = leaves_of(args, argnums, fn)
    counts = [len(jax.tree_util.tree_leaves(a)) for a in args]
    starts = [sum(counts[:k]) for k in range(len(args))]
    own = [leaves[starts[k]:starts[k] + counts[k]] for k in range(len(args))]
    return [lf for k in argnums for lf in own[k]] + \
        [lf for k in range(len(args)) if k not in argnums for lf in own[k]]


def analyze_target(target, *, float_bits: int | str = 16, overrides=None,
                   while_trips: int | None = None, mode: str = "inference",
                   cond: str = "max", scales: str = "strict", levels: str | None = None,
                   sparsity: str | None = None, weights=None, hardware: str | None = None) -> Report:
    """:func:`analyze` (or, with ``mode="train"``, :func:`analyze_train`) for a Target."""
    if OPTION["mode"].check(mode) == "train":
        return analyze_train(target.fn, *target.args, loss=target.loss, float_bits=float_bits,
                             params_argnums=target.params_argnums, overrides=overrides,
                             while_trips=while_trips, name=target.name, cond=cond, scales=scales,
                             levels=levels, sparsity=sparsity, weights=weights, hardware=hardware)
    return analyze(target.fn, *target.args, float_bits=float_bits,
                   params_argnums=target.params_argnums, overrides=overrides,
                   while_trips=while_trips, name=target.name, cond=cond, scales=scales,
                   levels=levels, sparsity=sparsity, weights=weights, hardware=hardware)
