"""Equivalent encodings share an id; graphs reflect the architecture and hash consistently."""

from __future__ import annotations

import json
import random

import networkx as nx

from search_spaces import get_space
from search_spaces.flexibert.nas_bench_bert import load_nas_bench_bert


def wl_hash(graph: nx.DiGraph) -> str:
    return nx.weisfeiler_lehman_graph_hash(graph, node_attr="op", iterations=4)


def shuffled_copy(graph: nx.DiGraph, rng: random.Random) -> nx.DiGraph:
    """The same graph with fresh node names, inserted in a random order."""
    names = list(graph.nodes)
    fresh = [f"n{i}" for i in range(len(names))]
    rng.shuffle(fresh)
    mapping = dict(zip(names, fresh))
    nodes = list(graph.nodes(data=True))
    rng.shuffle(nodes)
    out = nx.DiGraph()
    out.add_nodes_from((mapping[n], attrs) for n, attrs in nodes)
    out.add_edges_from((mapping[u], mapping[v]) for u, v in graph.edges)
    return out


def test_flexibert_equivalent_encodings_have_one_id():
    space = get_space("flexibert", "flexibert-2")
    tail = {"hidden": 128, "heads": 2, "op": "sa-sdp", "ff": [512]}
    base = {"layers": [{"hidden": 256, "heads": 4, "op": ["lt-dft", "sa-sdp", "dsc-5", "sa-sdp"], "ff": [1024, 512]}, tail]}
    reordered = {"layers": [{"ff": [1024, 512], "op": ["sa-sdp", "dsc-5", "sa-sdp", "lt-dft"], "heads": 4, "hidden": 256.0}, tail]}
    a, b = space.validate(base), space.validate(reordered)
    assert a == b and a.arch_id == b.arch_id
    homogeneous_short = {"layers": [{"hidden": 128, "heads": 2, "op": "sa-wma", "ff": [512]}, tail]}
    homogeneous_long = {"layers": [{"hidden": 128, "heads": 2, "op": ["sa-wma", "sa-wma"], "ff": [512]}, tail]}
    assert space.validate(homogeneous_short).arch_id == space.validate(homogeneous_long).arch_id
    # Canonical output writes a homogeneous layer with one op string.
    assert space.validate(homogeneous_long).to_dict()["layers"][0]["op"] == "sa-wma"
    # A different FF order is a different network.
    swapped = {"layers": [{"hidden": 256, "heads": 4, "op": ["lt-dft", "sa-sdp", "dsc-5", "sa-sdp"], "ff": [512, 1024]}, tail]}
    assert space.validate(swapped).arch_id != a.arch_id


def test_vit_slot_encoding_with_nulls_is_the_compact_encoding():
    space = get_space("vit-resnas", "small-images")
    rng = random.Random(0)
    arch = space.sample(rng)
    data = arch.to_dict()
    stage = data["stages"][0]
    sc = space.choices.stages[0]
    blocks = [{"heads": 3, "mlp": 96}, {"heads": 4, "mlp": 112}, {"heads": 5, "mlp": 128}, {"heads": 6, "mlp": 144}, {"heads": 3, "mlp": 160}, {"heads": 4, "mlp": 176}]
    stage["blocks"] = [blocks[0], None, blocks[2], blocks[3], blocks[4], blocks[5]]  # block 2 dropped
    with_null = space.validate(data)
    stage["blocks"] = [blocks[0], blocks[2], blocks[3], blocks[4], blocks[5]]
    compact = space.validate(data)
    stage.pop("head_dim")  # the preset fixes it
    assert space.validate(data) == compact
    assert with_null.arch_id == compact.arch_id
    assert len(with_null.stages[0].blocks) == 5
    assert sc.active_slots(5) == (0, 1, 2, 3, 4)


def test_equivalent_encodings_give_isomorphic_graphs_with_equal_wl_hashes():
    rng = random.Random(1)
    for name, preset in [("flexibert", "flexibert-2"), ("vit-resnas", "small-images")]:
        space = get_space(name, preset)
        for _ in range(20):
            arch = space.sample(rng)
            g = space.to_graph(arch)
            h = shuffled_copy(g, rng)
            assert wl_hash(g) == wl_hash(h)
            assert nx.is_isomorphic(g, h, node_match=lambda a, b: a["op"] == b["op"])
            assert nx.is_directed_acyclic_graph(g)


def test_head_order_does_not_change_the_graph_hash():
    space = get_space("flexibert", "flexibert-2")
    ops = ["lt-dft", "sa-sdp", "dsc-5", "sa-wma"]
    hashes = set()
    for perm in (ops, ops[::-1], ops[1:] + ops[:1]):
        arch = space.validate({"layers": [{"hidden": 256, "heads": 4, "op": perm, "ff": [512]}, {"hidden": 128, "heads": 2, "op": "sa-sdp", "ff": [512]}]})
        hashes.add(wl_hash(space.to_graph(arch)))
    assert len(hashes) == 1


def test_flexibert_graph_shape():
    space = get_space("flexibert", "flexibert")
    arch = space.validate(
        {"layers": [{"hidden": 128, "heads": 2, "op": "sa-sdp", "ff": [512]}, {"hidden": 256, "heads": 4, "op": "dsc-9", "ff": [1024, 512, 512]}]}
    )
    g = space.to_graph(arch)
    kinds = [g.nodes[n]["kind"] for n in g]
    assert kinds.count("head") == 6
    assert kinds.count("ff") == 4
    assert kinds.count("add_norm") == 4
    assert kinds.count("proj") == 1  # 128 -> 256
    assert list(nx.topological_sort(g))[0] == "input" and list(nx.topological_sort(g))[-1] == "output"
    assert g.nodes["L1.head0"]["op"] == "dsc-9:h256:d64"


def test_vit_graph_has_no_nodes_for_dropped_blocks():
    space = get_space("vit-resnas", "small-images")
    arch = space.sample(random.Random(5))
    g = space.to_graph(arch)
    attn_nodes = [n for n in g if g.nodes[n]["kind"] == "attn"]
    assert len(attn_nodes) == sum(len(s.blocks) for s in arch.stages)
    assert sum(1 for n in g if g.nodes[n]["kind"] == "reduce_conv") == len(arch.stages) - 1


def test_nas_bench_bert_archs_have_distinct_graph_hashes(nas_bench_bert_path):
    records = load_nas_bench_bert(nas_bench_bert_path)
    space = get_space("flexibert", "nas-bench-bert")
    by_id = {r.arch.arch_id: r.arch for r in records}
    hashes = {wl_hash(space.to_graph(arch)) for arch in by_id.values()}
    assert len(by_id) == 491
    assert len(hashes) == 491


def test_canonical_json_is_sorted_and_compact():
    space = get_space("flexibert", "nas-bench-bert")
    arch = space.sample(random.Random(3))
    text = arch.to_json()
    assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    assert len(arch.arch_id) == 16 and int(arch.arch_id, 16) >= 0
