"""FlexiBERT computational graphs: input -> one node per head -> add&norm -> FF nodes -> add&norm -> ... -> output.

Each node has an `op` label (all a graph hash or distance needs) plus structured attributes
(`kind`, and where they apply `family`, `param`, `hidden`, `dim`) for operation-aware costs.
"""

from __future__ import annotations

import networkx as nx

from search_spaces.flexibert.arch import FlexiBertArch


def flexibert_graph(arch: FlexiBertArch) -> nx.DiGraph:
    g = nx.DiGraph()
    h0 = arch.layers[0].hidden
    g.add_node("input", op=f"input:h{h0}", kind="input", hidden=h0)
    prev, prev_hidden = "input", h0
    for i, layer in enumerate(arch.layers):
        h = layer.hidden
        if h != prev_hidden:
            proj = f"L{i}.proj"
            g.add_node(proj, op=f"proj:{prev_hidden}->{h}", kind="proj", hidden=h)
            g.add_edge(prev, proj)
            prev = proj
        attn_norm = f"L{i}.add_norm1"
        g.add_node(attn_norm, op=f"add_norm:h{h}", kind="add_norm", hidden=h)
        for j, op in enumerate(layer.ops):
            head = f"L{i}.head{j}"
            family, param = op.split("-", 1)
            g.add_node(head, op=f"{op}:h{h}:d{layer.head_dim}", kind="head", family=family, param=param, hidden=h, dim=layer.head_dim)
            g.add_edge(prev, head)
            g.add_edge(head, attn_norm)
        g.add_edge(prev, attn_norm)  # residual
        ff_prev = attn_norm
        for j, dim in enumerate(layer.ff):
            node = f"L{i}.ff{j}"
            g.add_node(node, op=f"ff:{dim}", kind="ff", dim=dim)
            g.add_edge(ff_prev, node)
            ff_prev = node
        ff_norm = f"L{i}.add_norm2"
        g.add_node(ff_norm, op=f"add_norm:h{h}", kind="add_norm", hidden=h)
        g.add_edge(ff_prev, ff_norm)
        g.add_edge(attn_norm, ff_norm)  # residual
        prev, prev_hidden = ff_norm, h
    g.add_node("output", op="output", kind="output")
    g.add_edge(prev, "output")
    return g
