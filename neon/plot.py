"""Drawing a :class:`neon.Graph` with matplotlib."""

from __future__ import annotations

import networkx as nx

__all__ = ["draw_graph"]

_COLORS = {"linear": "#4c72b0", "conv": "#4c72b0", "add": "#dd8452", "concat": "#dd8452",
           "batchnorm": "#55a868", "elementwise_affine": "#55a868"}


def draw_graph(graph, ax=None, *, labels: bool = True, font_size: float = 7.0):
    """Draw ``graph`` top to bottom, one row per topological generation.

    Affine ops are blue, merges (add, concat) orange, per-channel affine ops green, the
    rest grey; each node is labelled with its name, beside it. Returns the axes.
    """
    import matplotlib.pyplot as plt

    structure = graph.structure
    pos = {}
    for depth, layer in enumerate(nx.topological_generations(structure)):
        for i, name in enumerate(sorted(layer)):
            pos[name] = (i - (len(layer) - 1) / 2, -depth)
    if ax is None:
        height = max(3.0, 0.35 * (1 - min(y for _, y in pos.values())))
        _, ax = plt.subplots(figsize=(6, min(height, 40)))
    colors = [_COLORS.get(graph[n].kind, "#999999") if graph.is_op_node(n) else "#222222"
              for n in structure.nodes]
    nx.draw_networkx(structure, pos=pos, ax=ax, node_color=colors, node_size=120,
                     with_labels=False, arrows=True, arrowsize=6)
    if labels:   # beside the nodes, not over them
        names = {n: n for n in structure.nodes}
        shifted = {n: (x + 0.12, y) for n, (x, y) in pos.items()}
        nx.draw_networkx_labels(structure, pos=shifted, labels=names, ax=ax,
                                font_size=font_size, horizontalalignment="left")
        xs = [x for x, _ in pos.values()]
        ax.set_xlim(min(xs) - 0.5, max(xs) + 1.5)
    ax.set_axis_off()
    return ax
