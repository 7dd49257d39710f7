"""The FlexiBERT supernet: every layer position holds, per operation, weights at the largest
hidden size, and a subnet takes the first rows/columns it needs.

Shared tensors of layer i (H = largest hidden, F = largest FF width):
- `input_proj` (H x H): joins layers of different widths;
- per operation, the head weights at inner width H (a group of n heads of size d uses the first
  n*d rows), WMA score matrices and DSC kernel generators per head (first n heads, first d dims);
- `out_proj` columns per operation (the standalone projection concatenates the groups' columns);
- the FF stack: `ff_in` (F x H), `ff_mid` (F x F) per inner position, `ff_out` (H x F).
"""

from __future__ import annotations

import torch
from torch import nn

from search_spaces.base import TextTaskShape
from search_spaces.flexibert.arch import FlexiBertArch, Layer
from search_spaces.flexibert.choices import conv_kernel
from search_spaces.flexibert.model import DROPOUT, EMBEDDING_INIT_STD, PAD_ID, classifier_forward, masked_lm_forward
from search_spaces.flexibert.space import FlexiBertSpace
from search_spaces.supernet import Supernet, conv_parameters, linear_parameters, norm_parameters


def _operation_parameters(op: str, hidden: int, max_heads: int, max_head_dim: int) -> nn.ParameterDict:
    family, param = op.split("-", 1)
    p = nn.ParameterDict()
    if family == "sa":
        p["qkv_weight"], p["qkv_bias"] = linear_parameters(hidden, hidden, 3)
        if param == "wma":
            p["score_weight"] = nn.Parameter(torch.eye(max_head_dim).repeat(max_heads, 1, 1))
    elif family == "lt":
        p["value_weight"], p["value_bias"] = linear_parameters(hidden, hidden)
    else:
        k = conv_kernel(op)
        for name in ("query", "value", "key_pointwise"):
            p[f"{name}_weight"], p[f"{name}_bias"] = linear_parameters(hidden, hidden)
        p["key_depthwise_weight"], _ = conv_parameters(hidden, 1, (k,), bias=False)
        p["kernel_weight"] = nn.Parameter(torch.randn(max_heads, max_head_dim, k) / max_head_dim**0.5)
        p["kernel_bias"] = nn.Parameter(torch.zeros(max_heads, k))
    p["out_weight"], _ = linear_parameters(hidden, hidden)
    return p


class FlexiBertLayerParameters(nn.Module):
    def __init__(self, ops: tuple[str, ...], hidden: int, ff_dim: int, max_ff_layers: int, max_heads: int, max_head_dim: int):
        super().__init__()
        self.input_proj_weight, self.input_proj_bias = linear_parameters(hidden, hidden)
        self.ops = nn.ModuleDict({op: _operation_parameters(op, hidden, max_heads, max_head_dim) for op in ops})
        _, self.out_bias = linear_parameters(hidden, hidden)
        self.norm1_weight, self.norm1_bias = norm_parameters(hidden)
        self.ff_in_weight, self.ff_in_bias = linear_parameters(ff_dim, hidden)
        mids = [linear_parameters(ff_dim, ff_dim) for _ in range(max_ff_layers - 1)]
        self.ff_mid_weight = nn.ParameterList(w for w, _ in mids)
        self.ff_mid_bias = nn.ParameterList(b for _, b in mids)
        self.ff_out_weight, self.ff_out_bias = linear_parameters(hidden, ff_dim)
        self.norm2_weight, self.norm2_bias = norm_parameters(hidden)

    def sliced(self, layer: Layer, in_dim: int) -> dict[str, torch.Tensor]:
        """State dict of a standalone `EncoderLayer(in_dim, layer)` (names relative to it)."""
        h, d = layer.hidden, layer.head_dim
        state: dict[str, torch.Tensor] = {}
        if in_dim != h:
            state["input_proj.weight"] = self.input_proj_weight[:h, :in_dim]
            state["input_proj.bias"] = self.input_proj_bias[:h]
        out_columns = []
        for g, (op, n) in enumerate(layer.op_groups()):
            p, width = self.ops[op], n * d
            family = op.split("-", 1)[0]
            prefix = f"mixers.{g}."
            if family == "sa":
                state[prefix + "qkv.weight"] = p["qkv_weight"][:, :width, :h].reshape(3 * width, h)
                state[prefix + "qkv.bias"] = p["qkv_bias"][:, :width].reshape(3 * width)
                if "score_weight" in p:
                    state[prefix + "score_weight"] = p["score_weight"][:n, :d, :d]
            elif family == "lt":
                state[prefix + "value.weight"] = p["value_weight"][:width, :h]
                state[prefix + "value.bias"] = p["value_bias"][:width]
            else:
                for name in ("query", "value", "key_pointwise"):
                    state[prefix + f"{name}.weight"] = p[f"{name}_weight"][:width, :h]
                    state[prefix + f"{name}.bias"] = p[f"{name}_bias"][:width]
                state[prefix + "key_depthwise.weight"] = p["key_depthwise_weight"][:h]
                state[prefix + "kernel_weight"] = p["kernel_weight"][:n, :d]
                state[prefix + "kernel_bias"] = p["kernel_bias"][:n]
            out_columns.append(p["out_weight"][:h, :width])
        state["out_proj.weight"] = torch.cat(out_columns, dim=1)
        state["out_proj.bias"] = self.out_bias[:h]
        state["norm1.weight"], state["norm1.bias"] = self.norm1_weight[:h], self.norm1_bias[:h]
        dims = (h, *layer.ff)
        weights = [self.ff_in_weight] + list(self.ff_mid_weight[: len(layer.ff) - 1])
        biases = [self.ff_in_bias] + list(self.ff_mid_bias[: len(layer.ff) - 1])
        for j, (w, b) in enumerate(zip(weights, biases)):
            state[f"ff.{2 * j}.weight"] = w[: dims[j + 1], : dims[j]]
            state[f"ff.{2 * j}.bias"] = b[: dims[j + 1]]
        last = 2 * len(layer.ff)
        state[f"ff.{last}.weight"] = self.ff_out_weight[:h, : layer.ff[-1]]
        state[f"ff.{last}.bias"] = self.ff_out_bias[:h]
        state["norm2.weight"], state["norm2.bias"] = self.norm2_weight[:h], self.norm2_bias[:h]
        return state


class FlexiBertSupernet(Supernet[FlexiBertArch]):
    """Holds every architecture of a configured FlexiBERT space for one text task."""

    def __init__(self, space: FlexiBertSpace, task: TextTaskShape | None = None):
        task = task or space.default_task()
        super().__init__(space, task)
        c = space.choices
        hidden, ff_dim = max(c.hidden), max(c.ff_dims)
        max_heads = max(c.heads)
        max_head_dim = max(h // n for h in c.hidden for n in c.heads_for(h))
        self.token_embedding = nn.Parameter(torch.randn(task.vocab_size, hidden) * EMBEDDING_INIT_STD)
        self.position_embedding = nn.Parameter(torch.randn(task.max_len, hidden) * EMBEDDING_INIT_STD)
        with torch.no_grad():
            self.token_embedding[PAD_ID].zero_()
        self.embedding_norm_weight, self.embedding_norm_bias = norm_parameters(hidden)
        self.layers = nn.ModuleList(
            FlexiBertLayerParameters(c.ops, hidden, ff_dim, max(c.ff_layers), max_heads, max_head_dim) for _ in range(max(c.num_layers))
        )
        self.final_norm_weight, self.final_norm_bias = norm_parameters(hidden)
        self.pooler_weight, self.pooler_bias = linear_parameters(hidden, hidden)
        self.classifier_weight, self.classifier_bias = linear_parameters(task.num_classes, hidden)
        # Masked-language-model head, for pretraining on the task's own text.
        self.mlm_transform_weight, self.mlm_transform_bias = linear_parameters(hidden, hidden)
        self.mlm_norm_weight, self.mlm_norm_bias = norm_parameters(hidden)
        self.mlm_decoder_weight, self.mlm_decoder_bias = linear_parameters(task.vocab_size, hidden)

    def run(self, inputs: torch.Tensor, params: dict[str, torch.Tensor], arch: FlexiBertArch, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        return classifier_forward(inputs, attention_mask, params, arch, DROPOUT, self.training)

    def mlm_logits(self, input_ids: torch.Tensor, arch: FlexiBertArch, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, seq, vocab) token predictions of subnet `arch` with the shared MLM head."""
        self.check(arch)
        last = arch.layers[-1].hidden
        params = self.sliced_state(arch) | {
            "head.transform.0.weight": self.mlm_transform_weight[:last, :last],
            "head.transform.0.bias": self.mlm_transform_bias[:last],
            "head.transform.2.weight": self.mlm_norm_weight[:last],
            "head.transform.2.bias": self.mlm_norm_bias[:last],
            "head.decoder.weight": self.mlm_decoder_weight[:, :last],
            "head.decoder.bias": self.mlm_decoder_bias,
        }
        return masked_lm_forward(input_ids, attention_mask, params, arch, DROPOUT, self.training)

    def sliced_state(self, arch: FlexiBertArch) -> dict[str, torch.Tensor]:
        h0, last = arch.layers[0].hidden, arch.layers[-1].hidden
        state = {
            "encoder.token_embedding.weight": self.token_embedding[:, :h0],
            "encoder.position_embedding.weight": self.position_embedding[:, :h0],
            "encoder.embedding_norm.weight": self.embedding_norm_weight[:h0],
            "encoder.embedding_norm.bias": self.embedding_norm_bias[:h0],
            "encoder.final_norm.weight": self.final_norm_weight[:last],
            "encoder.final_norm.bias": self.final_norm_bias[:last],
            "pooler.weight": self.pooler_weight[:last, :last],
            "pooler.bias": self.pooler_bias[:last],
            "classifier.weight": self.classifier_weight[:, :last],
            "classifier.bias": self.classifier_bias,
        }
        in_dim = h0
        for i, layer in enumerate(arch.layers):
            for name, tensor in self.layers[i].sliced(layer, in_dim).items():
                state[f"encoder.layers.{i}.{name}"] = tensor
            in_dim = layer.hidden
        return state
