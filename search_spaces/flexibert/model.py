"""Standalone FlexiBERT models: embeddings, a heterogeneous encoder, classification and MLM heads.

Every head operation reads the layer's full hidden state and writes `head_dim` features; a layer
concatenates its heads (grouped by operation, in canonical order) and projects them back to the
hidden size. Fixed transforms are written as matrix products so that they export to ONNX and so
that FLOP counters see them.

The computation lives in functions over a name -> tensor mapping; the modules hold parameters
under those names and call the functions with their own. A supernet calls the same functions
with slices of its shared tensors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.base import TextTaskShape
from search_spaces.flexibert.arch import FlexiBertArch, Layer
from search_spaces.flexibert.choices import conv_kernel
from search_spaces.functional import Params, apply_dropout, layer_norm, linear

PAD_ID = 0
DROPOUT = 0.1
# Embeddings start at BERT's N(0, 0.02), not nn.Embedding's N(0, 1): Adam moves a weight by about
# the learning rate a step, so at std 1 the few hundred steps of a small task barely move a word's
# embedding away from its random start (docs/benchmarks/supernet.md, "Text defaults").
EMBEDDING_INIT_STD = 0.02


def dft_matrices(n: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Real and imaginary parts (cos, sin) of the orthonormal n-point DFT matrix."""
    idx = torch.arange(n, device=device, dtype=torch.float64)
    angle = 2 * math.pi * torch.outer(idx, idx) / n
    scale = 1 / math.sqrt(n)
    return (torch.cos(angle) * scale).to(dtype), (torch.sin(angle) * scale).to(dtype)


def dct_matrix(n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Orthonormal DCT-II matrix: row k is the k-th cosine basis vector."""
    idx = torch.arange(n, device=device, dtype=torch.float64)
    basis = torch.cos(math.pi / n * (idx[None, :] + 0.5) * idx[:, None]) * math.sqrt(2 / n)
    basis[0] /= math.sqrt(2)
    return basis.to(dtype)


def self_attention_heads(x: torch.Tensor, mask: torch.Tensor, p: Params, prefix: str, heads: int, head_dim: int, scoring: str) -> torch.Tensor:
    """Scaled dot-product (`sdp`) or weighted multiplicative (`wma`: q·W·kᵀ, learned W per head) attention."""
    b, t, _ = x.shape
    q, k, v = linear(x, p, prefix + "qkv").view(b, t, 3, heads, head_dim).permute(2, 0, 3, 1, 4)
    if scoring == "wma":
        q = q @ p[prefix + "score_weight"]
    # The fused kernel: 1.3-1.5x faster than the written-out product and softmax (docs/benchmarks/search.md).
    mixed = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
    return mixed.transpose(1, 2).reshape(b, t, heads * head_dim)


def linear_transform_heads(x: torch.Tensor, mask: torch.Tensor, p: Params, prefix: str, heads: int, head_dim: int, transform: str) -> torch.Tensor:
    """Project, then mix with a fixed 2-D transform over (sequence, head features): the real part
    of the DFT (`dft`, as in FNet) or the DCT (`dct`). The matrices are made per call: they depend
    on the input length and cost far less than the products."""
    b, t, _ = x.shape
    d = head_dim
    v = (linear(x, p, prefix + "value") * mask[:, :, None]).view(b, t, heads, d).transpose(1, 2)
    if transform == "dft":
        cos_t, sin_t = dft_matrices(t, x.device, x.dtype)
        cos_d, sin_d = dft_matrices(d, x.device, x.dtype)
        # Re(F_t V F_d) = C_t V C_d - S_t V S_d for real V (DFT matrices are symmetric).
        out = (cos_t @ v) @ cos_d - (sin_t @ v) @ sin_d
    else:
        out = (dct_matrix(t, x.device, x.dtype) @ v) @ dct_matrix(d, x.device, x.dtype).T
    return out.transpose(1, 2).reshape(b, t, heads * d)


def dynamic_span_conv_heads(x: torch.Tensor, mask: torch.Tensor, p: Params, prefix: str, heads: int, head_dim: int, kernel: int) -> torch.Tensor:
    """Span-based dynamic convolution (ConvBERT): at each position a kernel of size k is generated
    from the query and a depthwise-separable convolution of the input, softmaxed, and applied to
    the values in a window of k positions."""
    b, t, _ = x.shape
    x = x * mask[:, :, None]
    depthwise = F.conv1d(x.transpose(1, 2), p[prefix + "key_depthwise.weight"], padding=kernel // 2, groups=x.shape[-1])
    span_key = linear(depthwise.transpose(1, 2), p, prefix + "key_pointwise")
    gate = (linear(x, p, prefix + "query") * span_key).view(b, t, heads, head_dim)
    weights = (torch.einsum("btnd,ndk->btnk", gate, p[prefix + "kernel_weight"]) + p[prefix + "kernel_bias"]).softmax(-1)
    v = F.pad(linear(x, p, prefix + "value").view(b, t, heads, head_dim), (0, 0, 0, 0, kernel // 2, kernel // 2))
    windows = torch.stack([v[:, j : j + t] for j in range(kernel)], dim=-1)
    return torch.einsum("btndk,btnk->btnd", windows, weights).reshape(b, t, heads * head_dim)


def heads_forward(op: str, x: torch.Tensor, mask: torch.Tensor, p: Params, prefix: str, heads: int, head_dim: int) -> torch.Tensor:
    family, param = op.split("-", 1)
    if family == "sa":
        return self_attention_heads(x, mask, p, prefix, heads, head_dim, param)
    if family == "lt":
        return linear_transform_heads(x, mask, p, prefix, heads, head_dim, param)
    return dynamic_span_conv_heads(x, mask, p, prefix, heads, head_dim, conv_kernel(op))


def layer_forward(x: torch.Tensor, mask: torch.Tensor, p: Params, prefix: str, in_dim: int, layer: Layer, dropout: float, training: bool) -> torch.Tensor:
    """Pre-norm layer: project (if the width changes), then x + out_proj(heads(norm(x))) and
    x + FF(norm(x)). Pre-norm rather than BERT's post-norm: the residual stream of a shallow subnet
    is the deep one's with the last layers skipped, which a supernet with elastic depth needs
    (post-norm left subnets at the majority class; docs/benchmarks/supernet.md)."""
    if in_dim != layer.hidden:
        x = linear(x, p, prefix + "input_proj")
    normed = layer_norm(x, p, prefix + "norm1")
    groups = [heads_forward(op, normed, mask, p, f"{prefix}mixers.{g}.", n, layer.head_dim) for g, (op, n) in enumerate(layer.op_groups())]
    x = x + apply_dropout(linear(torch.cat(groups, dim=-1), p, prefix + "out_proj"), dropout, training)
    h = layer_norm(x, p, prefix + "norm2")
    for j in range(len(layer.ff)):
        h = F.gelu(linear(h, p, f"{prefix}ff.{2 * j}"))
    h = linear(h, p, f"{prefix}ff.{2 * len(layer.ff)}")
    return x + apply_dropout(h, dropout, training)


def encoder_forward(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, p: Params, prefix: str, arch: FlexiBertArch, dropout: float, training: bool) -> torch.Tensor:
    """Hidden states (batch, seq, last hidden) of the encoder, normalised after the last layer;
    padding (id 0) is masked by default."""
    mask = token_mask(input_ids, attention_mask)
    positions = p[prefix + "position_embedding.weight"]
    if input_ids.shape[1] > positions.shape[0]:
        raise ValueError(f"input_ids: sequence length {input_ids.shape[1]} exceeds max_len={positions.shape[0]}")
    x = F.embedding(input_ids, p[prefix + "token_embedding.weight"], padding_idx=PAD_ID) + positions[: input_ids.shape[1]][None]
    x = apply_dropout(layer_norm(x, p, prefix + "embedding_norm"), dropout, training)
    in_dim = arch.layers[0].hidden
    for i, layer in enumerate(arch.layers):
        x = layer_forward(x, mask, p, f"{prefix}layers.{i}.", in_dim, layer, dropout, training)
        in_dim = layer.hidden
    return layer_norm(x, p, prefix + "final_norm")


def token_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """True at real tokens: the given attention mask, or every id but padding (0)."""
    return (input_ids != PAD_ID) if attention_mask is None else attention_mask.bool()


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the hidden states over real tokens, (batch, hidden); a product, so that it exports
    to ONNX as one MatMul and FLOP counters see it."""
    weights = mask.to(hidden.dtype)
    weights = weights / weights.sum(-1, keepdim=True).clamp(min=1)
    return (weights[:, None, :] @ hidden).squeeze(1)


def classifier_forward(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, p: Params, arch: FlexiBertArch, dropout: float, training: bool) -> torch.Tensor:
    """Logits from a tanh pooler on the mean of the real tokens' hidden states.

    Not BERT's first-token ([CLS]) pooler: the first token of a subnet made only of dynamic-span
    convolutions sees just layers * (k // 2) neighbours, and trained from scratch on a small task
    the mean gives every subnet of a supernet the whole text from the first step."""
    hidden = encoder_forward(input_ids, attention_mask, p, "encoder.", arch, dropout, training)
    pooled = masked_mean(hidden, token_mask(input_ids, attention_mask))
    return linear(apply_dropout(torch.tanh(linear(pooled, p, "pooler")), dropout, training), p, "classifier")


def masked_lm_forward(input_ids: torch.Tensor, attention_mask: torch.Tensor | None, p: Params, arch: FlexiBertArch, dropout: float, training: bool) -> torch.Tensor:
    """(batch, seq, vocab) predictions of the original tokens."""
    hidden = encoder_forward(input_ids, attention_mask, p, "encoder.", arch, dropout, training)
    hidden = layer_norm(F.gelu(linear(hidden, p, "head.transform.0")), p, "head.transform.2")
    return linear(hidden, p, "head.decoder")


# ---- modules: parameter holders with the names the functions above read ----


class SelfAttentionHeads(nn.Module):
    def __init__(self, hidden: int, heads: int, head_dim: int, scoring: str):
        super().__init__()
        self.qkv = nn.Linear(hidden, 3 * heads * head_dim)
        # W starts at the identity so WMA begins as SDP and learns a bilinear form from there.
        self.score_weight = nn.Parameter(torch.eye(head_dim).repeat(heads, 1, 1)) if scoring == "wma" else None


class LinearTransformHeads(nn.Module):
    def __init__(self, hidden: int, heads: int, head_dim: int):
        super().__init__()
        self.value = nn.Linear(hidden, heads * head_dim)


class DynamicSpanConvHeads(nn.Module):
    def __init__(self, hidden: int, heads: int, head_dim: int, kernel: int):
        super().__init__()
        self.query = nn.Linear(hidden, heads * head_dim)
        self.value = nn.Linear(hidden, heads * head_dim)
        self.key_depthwise = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2, groups=hidden, bias=False)
        self.key_pointwise = nn.Linear(hidden, heads * head_dim)
        self.kernel_weight = nn.Parameter(torch.randn(heads, head_dim, kernel) / math.sqrt(head_dim))
        self.kernel_bias = nn.Parameter(torch.zeros(heads, kernel))


def make_heads(op: str, hidden: int, heads: int, head_dim: int) -> nn.Module:
    family, param = op.split("-", 1)
    if family == "sa":
        return SelfAttentionHeads(hidden, heads, head_dim, param)
    if family == "lt":
        return LinearTransformHeads(hidden, heads, head_dim)
    return DynamicSpanConvHeads(hidden, heads, head_dim, conv_kernel(op))


class EncoderLayer(nn.Module):
    def __init__(self, in_dim: int, layer: Layer):
        super().__init__()
        h = layer.hidden
        self.input_proj = nn.Linear(in_dim, h) if in_dim != h else None
        self.mixers = nn.ModuleList(make_heads(op, h, n, layer.head_dim) for op, n in layer.op_groups())
        self.out_proj = nn.Linear(h, h)
        self.norm1 = nn.LayerNorm(h)
        dims = (h, *layer.ff)
        ff: list[nn.Module] = []
        for d_in, d_out in zip(dims, dims[1:]):
            ff += [nn.Linear(d_in, d_out), nn.GELU()]
        ff.append(nn.Linear(dims[-1], h))
        self.ff = nn.Sequential(*ff)
        self.norm2 = nn.LayerNorm(h)


class FlexiBertEncoder(nn.Module):
    """Token + position embeddings and the layer stack; returns hidden states (batch, seq, hidden)."""

    def __init__(self, arch: FlexiBertArch, task: TextTaskShape, dropout: float = DROPOUT):
        super().__init__()
        h0 = arch.layers[0].hidden
        self.arch, self.dropout = arch, dropout
        self.token_embedding = nn.Embedding(task.vocab_size, h0, padding_idx=PAD_ID)
        self.position_embedding = nn.Embedding(task.max_len, h0)
        for embedding in (self.token_embedding, self.position_embedding):
            nn.init.normal_(embedding.weight, std=EMBEDDING_INIT_STD)
        with torch.no_grad():
            self.token_embedding.weight[PAD_ID].zero_()
        self.embedding_norm = nn.LayerNorm(h0)
        dims = [h0] + [layer.hidden for layer in arch.layers]
        self.layers = nn.ModuleList(EncoderLayer(d_in, layer) for d_in, layer in zip(dims, arch.layers))
        self.out_dim = arch.layers[-1].hidden
        self.final_norm = nn.LayerNorm(self.out_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return encoder_forward(input_ids, attention_mask, dict(self.named_parameters()), "", self.arch, self.dropout, self.training)


class FlexiBertClassifier(nn.Module):
    """Sequence classifier: encoder, then a tanh pooler on the mean of the real tokens and a linear layer."""

    def __init__(self, arch: FlexiBertArch, task: TextTaskShape, dropout: float = DROPOUT):
        super().__init__()
        self.arch, self.dropout = arch, dropout
        self.encoder = FlexiBertEncoder(arch, task, dropout)
        h = self.encoder.out_dim
        self.pooler = nn.Linear(h, h)
        self.classifier = nn.Linear(h, task.num_classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return classifier_forward(input_ids, attention_mask, dict(self.named_parameters()), self.arch, self.dropout, self.training)


class MaskedLMHead(nn.Module):
    def __init__(self, hidden: int, vocab_size: int):
        super().__init__()
        self.transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden))
        self.decoder = nn.Linear(hidden, vocab_size)


class FlexiBertForMaskedLM(nn.Module):
    """An encoder (shared with a classifier when one is given) with an MLM head."""

    def __init__(self, encoder: FlexiBertEncoder, vocab_size: int):
        super().__init__()
        self.encoder = encoder
        self.head = MaskedLMHead(encoder.out_dim, vocab_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return masked_lm_forward(input_ids, attention_mask, dict(self.named_parameters()), self.encoder.arch, self.encoder.dropout, self.training)
