"""Pallas kernels: a ``pallas_call`` is its kernel body walked once, priced per grid point.

The kernel works on references (blocks of the call's operands and outputs,
scratch buffers) through state primitives: ``get``/``swap``/``addupdate``
and Pallas's masked ``load``/``store``. A reference is a :class:`Cell`:
what it may hold is the union of what it starts with (an input block, an
aliased operand) and everything the kernel stores into it, anywhere and at
any grid point. Reads see that union, so the body is walked until the cells
settle (as a loop's carries do), and the last walk is priced times the
number of grid points. What the output cells hold becomes the call's
results. The blocks a grid point sees are :mod:`acecost.engine.rules.pallas_blocks`.
See docs/design.md, "Pallas kernels".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from jax import tree_util

from acecost.engine.values.levels import Levels, normalize, unknown
from acecost.engine.rules.movement import union
from acecost.engine.values.value import Value, make_value
from acecost.engine.rules.calls import unsupported_rule
from acecost.engine.rules.pallas_blocks import (
    block_kinds, coarse, grid_sizes, operand_block, output_array, ref_dtype,
)
from acecost.engine.rules.jaxprs import out_values, unpack_jaxpr
from acecost.engine.rules.registry import higher_order
from acecost.engine.rules.loops import MAX_FIXPOINT_STEPS, numbered_walks, same_value
from acecost.engine.tally import Tally


@dataclass
class Cell:
    """One reference of a kernel: what it starts with and what is stored into it."""

    shape: tuple
    dtype: np.dtype
    #: the value before the kernel writes (an input block); None: nothing defined
    init: Value | None
    #: what reads see on this walk: init and the previous walk's stores (None: nothing yet)
    content: Value | None
    stores: list[Value] = field(default_factory=list)

    def settled(self) -> Value | None:
        """What the reference may hold after this walk's stores."""
        cases = ([self.init] if self.init is not None else []) + self.stores
        if not cases:
            return None
        if len(cases) == 1:
            return cases[0]
        lv = union(cases, "values stored in a reference")
        origins = frozenset().union(*(c.origins for c in cases))
        return make_value(self.shape, self.dtype, normalize(lv, self.dtype), None, origins)


def _same_content(a: Value | None, b: Value | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and same_value(a, b))


# ------------------------------------------------------------ the call

@higher_order("pallas_call")
def _pallas_call(interp, eqn, ins, scope, tally, masks=()):
    """Walk the kernel on block-shaped references; its cost counts once per grid point."""
    p = eqn.params
    gm = p.get("grid_mapping")
    try:  # the calling convention of jax's GridMapping; another one is not guessed at
        jaxpr, consts = unpack_jaxpr(p["jaxpr"])
        n_dyn, n_idx = gm.num_dynamic_grid_bounds, gm.num_index_operands
        n_in, n_out, n_scratch = gm.num_inputs, gm.num_outputs, len(gm.scratch_avals)
        blocks = tuple(gm.block_mappings)
    except (AttributeError, KeyError, TypeError):
        return unsupported_rule(interp, eqn, ins, scope, tally)
    where = scope or "top level"
    if len(ins) != n_dyn + n_idx + n_in or len(jaxpr.invars) != n_idx + n_in + n_out + n_scratch \
            or len(eqn.outvars) != n_out or len(blocks) != n_in + n_out:
        return unsupported_rule(interp, eqn, ins, scope, tally)
    grid, known = grid_sizes(gm.grid, ins[:n_dyn])
    exact = None not in known
    operands = ins[n_dyn:]  # *scalar prefetch, *inputs
    refs = list(jaxpr.invars)
    aliases = {o: i for i, o in p.get("input_output_aliases", ())}
    inits: list[Value | None] = list(operands[:n_idx])  # scalar prefetch: the whole array (SMEM)
    inits += [operand_block(interp, v, bm, r.aval) for v, bm, r in zip(operands[n_idx:], blocks, refs[n_idx:])]
    for k in range(n_out):
        i = aliases.get(k)
        ref = refs[n_idx + n_in + k]
        inits.append(None if i is None else operand_block(interp, operands[i], blocks[n_in + k], ref.aval))
    inits += [None] * n_scratch
    cells = [Cell(tuple(r.aval.shape), ref_dtype(r.aval), init, init) for r, init in zip(refs, inits)]
    # program_id / num_programs count the grid's axes without those a vmap added (jax's
    # GridMapping.vmapped_dims): program_id(1) of a kernel vmapped twice is grid axis 3
    vmapped = set(getattr(gm, "vmapped_dims", ()) or ())
    kernel_grid = tuple(n for d, n in enumerate(known) if d not in vmapped)
    child = _walk_to_fixpoint(interp, jaxpr, consts, cells, kernel_grid, scope)
    points = math.prod(grid)
    tally.merge(child, points)
    tally.loops.append({"scope": where, "kind": "pallas_call", "trips": points, "exact": exact,
                        "grid": list(grid)})
    if not exact:
        tally.warnings.append(f"{where}: pallas_call grid {tuple(gm.grid)} is not static; the kernel "
                              f"was counted for a grid of {tuple(grid)}.")
        tally.incomplete.append(f"pallas_call at {where} has a grid that is not static")
    outs = []
    for k, bm in enumerate(blocks[n_in:n_in + n_out]):
        content, var = cells[n_idx + n_in + k].content, eqn.outvars[k]
        if content is None:
            outs.append(interp.register(make_value(var.aval.shape, var.aval.dtype, normalize(
                unknown(f"output {k} of the kernel at {where}, which stores nothing into it"), var.aval.dtype))))
        else:
            outs.append(output_array(interp, content, bm, var.aval))
    return out_values(interp, eqn, outs)


def _walk_to_fixpoint(interp, jaxpr, consts, cells: list[Cell], grid, scope) -> Tally:
    """Walk the kernel until what every reference may hold stops changing; the last walk's tally.

    Like a loop body, each walk numbers its contractions as the first did
    (:func:`acecost.engine.rules.loops.numbered_walks`).
    """
    stored: set[int] = set()  # cells anything was stored into, on any walk
    forced = False
    for step in numbered_walks(interp):
        child = Tally()
        args = []
        for cell in cells:
            cell.stores = []
            ref = interp.register(make_value(cell.shape, cell.dtype, unknown("a reference")))
            interp.ref_cells[ref.form[0][0]] = cell
            args.append(ref)
        interp.grids.append(grid)
        try:
            interp.run(jaxpr, consts, args, scope, child)
        finally:
            interp.grids.pop()
            for ref in args:
                del interp.ref_cells[ref.form[0][0]]
        stored |= {k for k, cell in enumerate(cells) if cell.stores}
        new = [cell.settled() for cell in cells]
        if forced or all(_same_content(cell.content, n) for cell, n in zip(cells, new)):
            return child
        for cell, n in zip(cells, new):
            cell.content = n
        if step == MAX_FIXPOINT_STEPS - 1:
            # one more walk, with every cell anything is stored into unknown: reads of it are then
            # sound whatever the stores, and so is what the outputs hold
            forced = True
            why = f"a reference of the kernel at {scope or 'top level'} does not settle"
            for k in stored:
                cell = cells[k]
                cell.content = make_value(cell.shape, cell.dtype, normalize(unknown(why), cell.dtype))
    return child


# --------------------------------------------------- reads and writes

def _access(interp, ref: Value, transforms) -> tuple[Cell | None, str]:
    """The cell a state primitive reaches, and how its positions relate to the cell's.

    "same": slices only, so an element keeps its coordinates up to one
    offset; "moved": an integer or array index, a reshape or a transpose;
    "bitcast": the bits are read as another type.
    """
    from jax.experimental import pallas as pl

    cell = interp.ref_cells.get(ref.form[0][0]) if len(ref.form) == 1 else None
    how = "same"
    for t in transforms:
        indices = getattr(t, "indices", None)
        if indices is None:
            if "bitcast" in type(t).__name__.lower():
                return cell, "bitcast"
            how = "moved"
        elif not all(isinstance(i, block_kinds(pl, "Slice")) for i in indices):
            how = "moved"
    return cell, how


def _unknown(interp, aval, why: str) -> Value:
    return interp.register(make_value(tuple(aval.shape), aval.dtype, normalize(unknown(why), aval.dtype)))


def _read(interp, cell: Cell | None, how: str, aval, scope: str) -> Value:
    """What a read returns: elements of what the reference may hold."""
    where = scope or "top level"
    if cell is None:
        return _unknown(interp, aval, f"read of a reference made outside a kernel at {where}")
    content = cell.content
    if content is None:
        return _unknown(interp, aval, f"read of a reference before the kernel at {where} stores into it")
    if how == "bitcast":
        return _unknown(interp, aval, f"read of a reference through a bitcast at {where}")
    shape = tuple(aval.shape)
    if how == "same" and len(shape) == len(content.shape):
        name = content.name if shape == content.shape else None
        return interp.register(make_value(shape, aval.dtype, normalize(content.levels, aval.dtype),
                                          content.vary, content.origins, name))
    return coarse(interp, content, shape, aval.dtype, keep_flat=True)


def _write(interp, cell: Cell | None, how: str, value: Value, whole: bool, scope: str) -> None:
    """Record a store: a whole tensor as it is, a part at positions of its own."""
    if cell is None:
        return  # a reference no kernel made: its reads are unknown anyway
    if how == "bitcast":
        stored = _unknown(interp, cell, f"a store through a bitcast at {scope or 'top level'}")
    elif how == "same" and whole and value.shape == cell.shape:
        stored = value
    else:
        # each store may come from another grid point or iteration: only per-element claims hold
        stored = coarse(interp, value, cell.shape, cell.dtype, keep_flat=False)
    if not any(same_value(stored, s) for s in cell.stores):  # a loop body walked again stores the same
        cell.stores.append(stored)


def _tree(eqn, first: int):
    """The transforms a state primitive applies, with input positions as leaves."""
    return tree_util.tree_unflatten(eqn.params["tree"], list(range(first, len(eqn.invars))))


@higher_order("get")
def _get(interp, eqn, ins, scope, tally, masks=()):
    cell, how = _access(interp, ins[0], _tree(eqn, 1))
    return [_read(interp, cell, how, eqn.outvars[0].aval, scope)]


@higher_order("swap")
def _swap(interp, eqn, ins, scope, tally, masks=()):
    """Store a value; the old one is returned."""
    cell, how = _access(interp, ins[0], _tree(eqn, 2))
    old = _read(interp, cell, how, eqn.outvars[0].aval, scope)
    _write(interp, cell, how, ins[1], True, scope)
    return [old]


@higher_order("addupdate")
def _addupdate(interp, eqn, ins, scope, tally, masks=()):
    """``ref[idx] += x``: one add per element of ``x``; the sum has no level structure."""
    cell, how = _access(interp, ins[0], _tree(eqn, 2))
    update = ins[1]
    key = (scope, "arithmetic")
    tally.elementwise[key] = tally.elementwise.get(key, 0) + update.size
    _write(interp, cell, how, _unknown(interp, update, f"a sum accumulated in a reference at "
                                                       f"{scope or 'top level'}"), True, scope)
    return []


@higher_order("masked_load")
def _masked_load(interp, eqn, ins, scope, tally, masks=()):
    """Pallas's ``load``: elements where the mask holds, ``other`` elsewhere.

    Without ``other`` the masked-out elements are undefined and a correct
    kernel never lets them reach a result, so they are not counted.
    """
    ref, transforms, _mask, other = tree_util.tree_unflatten(eqn.params["args_tree"], list(range(len(ins))))
    cell, how = _access(interp, ins[ref], transforms)
    aval = eqn.outvars[0].aval
    value = _read(interp, cell, how, aval, scope)
    if other is None:
        return [value]
    cases = [value, ins[other]]
    lv = normalize(union(cases, "masked load"), aval.dtype)
    return [interp.register(make_value(tuple(aval.shape), aval.dtype, lv, None,
                                       value.origins | ins[other].origins))]


@higher_order("masked_swap")
def _masked_swap(interp, eqn, ins, scope, tally, masks=()):
    """Pallas's ``store``/``swap``: a store where the mask holds (all of it without a mask)."""
    ref, transforms, val, mask = tree_util.tree_unflatten(eqn.params["args_tree"], list(range(len(ins))))
    cell, how = _access(interp, ins[ref], transforms)
    old = _read(interp, cell, how, eqn.outvars[0].aval, scope) if eqn.outvars else None
    _write(interp, cell, how, ins[val], mask is None, scope)
    return [old] if old is not None else []


# ------------------------------------------------------- grid indices

@higher_order("program_id")
def _program_id(interp, eqn, ins, scope, tally, masks=()):
    """The grid point's index along an axis: an integer in ``[0, n - 1]``."""
    if not interp.grids:
        return unsupported_rule(interp, eqn, ins, scope, tally)
    axis, aval = eqn.params["axis"], eqn.outvars[0].aval
    n = interp.grids[-1][axis]
    lv = Levels(lo=0, hi=n - 1 if n is not None else None, integral=True,
                why=f"grid index along axis {axis}" + (f" of {n}" if n is not None else ""))
    value = interp.register(make_value((), aval.dtype, normalize(lv, aval.dtype)))
    # every program_id(axis) of this kernel is one value: one atom of the affine forms
    interp.affine[value.form] = (0, ((("program_id", axis, id(interp.grids[-1])), 1),))
    return [value]


@higher_order("num_programs")
def _num_programs(interp, eqn, ins, scope, tally, masks=()):
    """The grid's size along an axis: a constant where the grid is static."""
    if not interp.grids:
        return unsupported_rule(interp, eqn, ins, scope, tally)
    aval = eqn.outvars[0].aval
    n = interp.grids[-1][eqn.params["axis"]]
    if n is None:
        return [_unknown(interp, aval, "grid size that is not static")]
    return [interp.constant(np.asarray(n, aval.dtype), aval)]


@higher_order("multiple_of")
def _multiple_of(interp, eqn, ins, scope, tally, masks=()):
    """A hint to the compiler: the value itself."""
    return [ins[0]]
