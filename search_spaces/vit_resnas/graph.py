"""ViT-ResNAS computational graphs: stem -> blocks (attention, add, MLP, add) -> spatial reduction -> ... -> head.

Nodes carry an `op` label plus structured attributes (`kind`, `width`, `heads`, `dim`).
"""

from __future__ import annotations

import networkx as nx

from search_spaces.vit_resnas.arch import VitResNASArch


def vit_resnas_graph(arch: VitResNASArch) -> nx.DiGraph:
    g = nx.DiGraph()
    w0 = arch.stages[0].width
    g.add_node("stem", op=f"stem:w{w0}", kind="stem", width=w0)
    prev = "stem"
    for s, stage in enumerate(arch.stages):
        w = stage.width
        if s:
            w_in = arch.stages[s - 1].width
            conv, pool, merge = f"S{s}.reduce_conv", f"S{s}.reduce_pool", f"S{s}.reduce_add"
            g.add_node(conv, op=f"reduce_conv:{w_in}->{w}", kind="reduce_conv", width=w)
            g.add_node(pool, op=f"reduce_pool:{w_in}->{w}", kind="reduce_pool", width=w)
            g.add_node(merge, op=f"add:w{w}", kind="add", width=w)
            g.add_edges_from([(prev, conv), (prev, pool), (conv, merge), (pool, merge)])
            prev = merge
        for b, block in enumerate(stage.blocks):
            attn, add1, mlp, add2 = (f"S{s}.B{b}.{part}" for part in ("attn", "add1", "mlp", "add2"))
            g.add_node(attn, op=f"attn:h{block.heads}x{stage.head_dim}:w{w}", kind="attn", width=w, heads=block.heads, dim=stage.head_dim)
            g.add_node(add1, op=f"add:w{w}", kind="add", width=w)
            g.add_node(mlp, op=f"mlp:{block.mlp}:w{w}", kind="mlp", width=w, dim=block.mlp)
            g.add_node(add2, op=f"add:w{w}", kind="add", width=w)
            g.add_edges_from([(prev, attn), (attn, add1), (prev, add1), (add1, mlp), (mlp, add2), (add1, add2)])
            prev = add2
    g.add_node("head", op="head", kind="output")
    g.add_edge(prev, "head")
    return g
