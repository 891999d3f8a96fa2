"""Primitives jax registers that acecost reports as unsupported, and why.

Every primitive jax defines has a bit rule (:mod:`acecost.bits`), a cost rule
(:mod:`acecost.cost`, :mod:`acecost.engine.rules.calls`), or an entry here. One met
in a model is reported as unsupported (the totals are marked incomplete),
never priced as free. A primitive new in a jax release is in none of these
and fails ``tests/test_primitive_coverage.py`` until it is classified.
"""
from __future__ import annotations

#: why -> primitives. Names are jax's ``Primitive.name``.
UNSUPPORTED_BY_DESIGN: dict[str, str] = {
    "communication between devices: acecost prices one device's program":
        "all_gather all_gather_done all_gather_invariant all_gather_reduced all_gather_reduced_start "
        "all_gather_start all_to_all all_to_all_done all_to_all_start pbroadcast pbroadcast_done "
        "pbroadcast_start pmax pmin ppermute ppermute_done ppermute_start precv preduced psend psum "
        "psum_done psum_invariant psum_invariant_start psum_start ragged_all_to_all reduce_scatter "
        "reduce_scatter_done reduce_scatter_start unreduced_psum unreduced_psum_start "
        "unreduced_reduce_scatter unreduced_reduce_scatter_start reduced_vary_cast_p "
        "vary_unreduced_cast_p",
    "matrix decompositions and solvers: their work depends on the algorithm, not on the shapes alone":
        "cholesky cholesky_update eig eigh geqp3 geqrf hessenberg householder_product lu "
        "lu_pivots_to_permutation ormqr qr schur svd symmetric_product triangular_solve tridiagonal "
        "tridiagonal_solve custom_linear_solve fft",
    "special functions evaluated by series or iteration (no fixed operation count)":
        "bessel_i0e bessel_i1e igamma igamma_grad_a igammac polygamma zeta regularized_incomplete_beta "
        "random_gamma",
    "mutable references and state outside a Pallas kernel (not produced by tracing a model function)":
        "new_ref empty_ref free_ref freeze accum_grad_in_ref run_state run_scoped "
        "box_get box_set new_box log_extend log_read new_log empty empty2",
    "hand-written kernels and fused library calls: their arithmetic is not in the jaxpr":
        "core_map dma_start dma_wait semaphore_read semaphore_signal semaphore_wait "
        "get_barrier_semaphore matmul_acc_lhs matmul_pop "
        "matmul_push_rhs tpu_custom_call delay get_global dot_product_attention_bwd "
        "dot_product_attention_bwd_wrapper dot_product_attention_fp8_bwd "
        "dot_product_attention_fp8_bwd_wrapper dot_product_attention_fp8_fwd "
        "dot_product_attention_fp8_fwd_wrapper dot_product_attention_fwd dot_product_attention_fwd_wrapper "
        "cudnn_fusion custom_fusion scaled_matmul scaled_matmul_wrapper scaled_dot ffi_call fusible "
        "pack_elementwise unpack_elementwise pack_dtype unpack_dtype",
    "host callbacks: the work runs outside the program":
        "pure_callback io_callback buffer_callback",
    "compiler markers, staging and export machinery (no arithmetic of their own)":
        "after_all create_token add_dependency check shape_assertion inspect_sharding layout_constraint "
        "with_memory_space_constraint shard_alike xla_metadata_value dim_as_value dimension_size "
        "platform_index unreachable compute_on name trace_value pin unpin tie stage dce_sink remat_opt "
        "custom_partitioning composite call_exported custom_vmap_call eval_jaxpr jaxpr_call call "
        "call_hi_primitive call_hi_primitive_linearized create_linear linear_call custom_jvp_call_jaxpr "
        "mpmd_map from_edtype to_edtype bitcast broadcast_to zeros_like",
    "computations not priced yet (reported unsupported where met)":
        "reduce select_and_scatter select_and_gather_add "
        "approx_top_k rng_bit_generator rng_uniform threefry4x32 philox2x32 philox4x32 prng_join "
        "prng_random_bits prng_seed prng_split random_clone iota_2x32_shape mulhi reduce_xor scatter-sub "
        "roll unstack stochastic_round",
}


def unsupported_by_design() -> dict[str, str]:
    """primitive name -> why it is unsupported."""
    return {name: why for why, names in UNSUPPORTED_BY_DESIGN.items() for name in names.split()}
