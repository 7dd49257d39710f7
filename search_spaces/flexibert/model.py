"""Standalone FlexiBERT models: embeddings, a heterogeneous encoder, classification and MLM heads.

Every head operation reads the layer's full hidden state and writes `head_dim` features; a layer
concatenates its heads (grouped by operation, in canonical order) and projects them back to the
hidden size. Fixed transforms are written as matrix products so that they export to ONNX and so
that FLOP counters see them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from search_spaces.base import TextTaskShape
from search_spaces.flexibert.arch import FlexiBertArch, Layer
from search_spaces.flexibert.choices import conv_kernel

PAD_ID = 0


class SelfAttentionHeads(nn.Module):
    """`heads` self-attention heads with scaled dot-product (`sdp`) or weighted multiplicative
    (`wma`, scores q·W·kᵀ with a learned W per head) scoring."""

    def __init__(self, hidden: int, heads: int, head_dim: int, scoring: str):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(hidden, 3 * heads * head_dim)
        # W starts at the identity so WMA begins as SDP and learns a bilinear form from there.
        self.score_weight = nn.Parameter(torch.eye(head_dim).repeat(heads, 1, 1)) if scoring == "wma" else None

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        if self.score_weight is not None:
            q = q @ self.score_weight
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        out = scores.softmax(-1) @ v
        return out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)


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


class LinearTransformHeads(nn.Module):
    """`heads` heads that project the input and mix it with a fixed 2-D transform over
    (sequence, head features): the real part of the DFT (`dft`, as in FNet) or the DCT (`dct`).

    The transform matrices are made in the forward pass (they depend on the input length and
    cost far less than the products), so the module holds parameters only.
    """

    def __init__(self, hidden: int, heads: int, head_dim: int, transform: str):
        super().__init__()
        self.heads, self.head_dim, self.transform = heads, head_dim, transform
        self.value = nn.Linear(hidden, heads * head_dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        d = self.head_dim
        v = (self.value(x) * mask[:, :, None]).view(b, t, self.heads, d).transpose(1, 2)
        if self.transform == "dft":
            cos_t, sin_t = dft_matrices(t, x.device, x.dtype)
            cos_d, sin_d = dft_matrices(d, x.device, x.dtype)
            # Re(F_t V F_d) = C_t V C_d - S_t V S_d for real V (DFT matrices are symmetric).
            out = (cos_t @ v) @ cos_d - (sin_t @ v) @ sin_d
        else:
            out = (dct_matrix(t, x.device, x.dtype) @ v) @ dct_matrix(d, x.device, x.dtype).T
        return out.transpose(1, 2).reshape(b, t, self.heads * d)


class DynamicSpanConvHeads(nn.Module):
    """`heads` span-based dynamic convolution heads (ConvBERT): a kernel of size k is generated
    at each position from the query and a depthwise-separable convolution of the input, softmaxed,
    and applied to the values in a window of k positions."""

    def __init__(self, hidden: int, heads: int, head_dim: int, kernel: int):
        super().__init__()
        self.heads, self.head_dim, self.kernel = heads, head_dim, kernel
        self.query = nn.Linear(hidden, heads * head_dim)
        self.value = nn.Linear(hidden, heads * head_dim)
        self.key_depthwise = nn.Conv1d(hidden, hidden, kernel, padding=kernel // 2, groups=hidden, bias=False)
        self.key_pointwise = nn.Linear(hidden, heads * head_dim)
        self.kernel_weight = nn.Parameter(torch.randn(heads, head_dim, kernel) / math.sqrt(head_dim))
        self.kernel_bias = nn.Parameter(torch.zeros(heads, kernel))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, _ = x.shape
        x = x * mask[:, :, None]
        span_key = self.key_pointwise(self.key_depthwise(x.transpose(1, 2)).transpose(1, 2))
        gate = (self.query(x) * span_key).view(b, t, self.heads, self.head_dim)
        weights = (torch.einsum("btnd,ndk->btnk", gate, self.kernel_weight) + self.kernel_bias).softmax(-1)
        v = self.value(x).view(b, t, self.heads, self.head_dim)
        pad = self.kernel // 2
        v = F.pad(v, (0, 0, 0, 0, pad, pad))
        windows = torch.stack([v[:, j : j + t] for j in range(self.kernel)], dim=-1)
        return torch.einsum("btndk,btnk->btnd", windows, weights).reshape(b, t, self.heads * self.head_dim)


def make_heads(op: str, hidden: int, heads: int, head_dim: int) -> nn.Module:
    family, param = op.split("-", 1)
    if family == "sa":
        return SelfAttentionHeads(hidden, heads, head_dim, param)
    if family == "lt":
        return LinearTransformHeads(hidden, heads, head_dim, param)
    return DynamicSpanConvHeads(hidden, heads, head_dim, conv_kernel(op))


class EncoderLayer(nn.Module):
    """Project (if the width changes) -> heads -> output projection -> add & norm -> FF stack -> add & norm."""

    def __init__(self, in_dim: int, layer: Layer, dropout: float):
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
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.input_proj is not None:
            x = self.input_proj(x)
        mixed = torch.cat([m(x, mask) for m in self.mixers], dim=-1)
        x = self.norm1(x + self.dropout(self.out_proj(mixed)))
        return self.norm2(x + self.dropout(self.ff(x)))


class FlexiBertEncoder(nn.Module):
    """Token + position embeddings and the layer stack; returns hidden states (batch, seq, hidden)."""

    def __init__(self, arch: FlexiBertArch, task: TextTaskShape, dropout: float = 0.1):
        super().__init__()
        h0 = arch.layers[0].hidden
        self.max_len = task.max_len
        self.token_embedding = nn.Embedding(task.vocab_size, h0, padding_idx=PAD_ID)
        self.position_embedding = nn.Embedding(task.max_len, h0)
        self.embedding_norm = nn.LayerNorm(h0)
        self.dropout = nn.Dropout(dropout)
        dims = [h0] + [layer.hidden for layer in arch.layers]
        self.layers = nn.ModuleList(EncoderLayer(d_in, layer, dropout) for d_in, layer in zip(dims, arch.layers))
        self.out_dim = arch.layers[-1].hidden

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if input_ids.shape[1] > self.max_len:
            raise ValueError(f"input_ids: sequence length {input_ids.shape[1]} exceeds max_len={self.max_len}")
        mask = (input_ids != PAD_ID) if attention_mask is None else attention_mask.bool()
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        x = self.token_embedding(input_ids) + self.position_embedding(positions)[None]
        x = self.dropout(self.embedding_norm(x))
        for layer in self.layers:
            x = layer(x, mask)
        return x


class FlexiBertClassifier(nn.Module):
    """Sequence classifier: encoder, then a tanh pooler on the first token and a linear layer."""

    def __init__(self, arch: FlexiBertArch, task: TextTaskShape, dropout: float = 0.1):
        super().__init__()
        self.encoder = FlexiBertEncoder(arch, task, dropout)
        h = self.encoder.out_dim
        self.pooler = nn.Linear(h, h)
        self.classifier = nn.Linear(h, task.num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        first = self.encoder(input_ids, attention_mask)[:, 0]
        return self.classifier(self.dropout(torch.tanh(self.pooler(first))))


class MaskedLMHead(nn.Module):
    """Predicts the original token at every position (for masked-language-model pretraining)."""

    def __init__(self, hidden: int, vocab_size: int):
        super().__init__()
        self.transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden))
        self.decoder = nn.Linear(hidden, vocab_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class FlexiBertForMaskedLM(nn.Module):
    """An encoder (shared with a classifier when one is given) with an MLM head."""

    def __init__(self, encoder: FlexiBertEncoder, vocab_size: int):
        super().__init__()
        self.encoder = encoder
        self.head = MaskedLMHead(encoder.out_dim, vocab_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.encoder(input_ids, attention_mask))
