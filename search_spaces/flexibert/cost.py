"""Analytic parameters and FLOPs of a FlexiBERT classifier (mirrors `model.py` piece by piece)."""

from __future__ import annotations

from search_spaces.base import Cost, TextTaskShape
from search_spaces.flexibert.arch import FlexiBertArch, Layer
from search_spaces.flexibert.choices import conv_kernel
from search_spaces.tally import CostTally


def flexibert_cost(arch: FlexiBertArch, task: TextTaskShape, tally: CostTally | None = None) -> Cost:
    """The cost, added piece by piece to `tally` (a fresh one when None)."""
    t = task.max_len
    tally = tally or CostTally()
    h0 = arch.layers[0].hidden
    tally.add_params(task.vocab_size * h0 + task.max_len * h0)  # token and position embeddings
    tally.norm(h0, t)
    in_dim = h0
    for layer in arch.layers:
        _layer_cost(tally, in_dim, layer, t)
        in_dim = layer.hidden
    tally.norm(in_dim, t)  # after the last layer (pre-norm stack)
    # Mean over the tokens (a product with the mask weights), then pooler and classifier on one vector.
    tally.matmul(1, t, in_dim)
    tally.linear(in_dim, in_dim, tokens=1)
    tally.linear(in_dim, task.num_classes, tokens=1)
    return tally.result()


def _layer_cost(tally: CostTally, in_dim: int, layer: Layer, t: int) -> None:
    h, d = layer.hidden, layer.head_dim
    if in_dim != h:
        tally.linear(in_dim, h, t)
    for op, n in layer.op_groups():
        family, param = op.split("-", 1)
        width = n * d
        if family == "sa":
            tally.linear(h, 3 * width, t)
            if param == "wma":
                tally.add_params(n * d * d)
                tally.matmul(t, d, d, batch=n)
            tally.matmul(t, d, t, batch=n)  # scores
            tally.matmul(t, t, d, batch=n)  # weighted values
        elif family == "lt":
            tally.linear(h, width, t)
            products = 2 if param == "dft" else 1  # DFT real part needs cos and sin terms
            tally.matmul(t, t, d, batch=n * products)
            tally.matmul(t, d, d, batch=n * products)
        else:
            k = conv_kernel(op)
            tally.linear(h, width, t)  # query
            tally.linear(h, width, t)  # value
            tally.conv(h, h, k, t, groups=h, bias=False)  # depthwise
            tally.linear(h, width, t)  # pointwise convolution
            tally.add_params(n * d * k + n * k)  # kernel generator
            tally.matmul(1, d, k, batch=t * n)
            tally.matmul(1, k, d, batch=t * n)  # applying the kernel to the window
    tally.linear(h, h, t)  # output projection
    tally.norm(h, t)
    dims = (h, *layer.ff, h)
    for d_in, d_out in zip(dims, dims[1:]):
        tally.linear(d_in, d_out, t)
    tally.norm(h, t)
