"""The graph IR: a DAG of named nodes whose ops are small torch modules.

A :class:`Graph` holds

* graph inputs (:class:`InputSpec`: name and per-sample shape, ``None`` for free axes),
* nodes (:class:`Node`: name, op, names of the nodes it reads), structure kept in a
  :class:`networkx.DiGraph`, the topological order computed once and cached,
* one output node,
* what the importer or neuralizer declares about the model, as typed attributes
  (:attr:`Graph.source`, :attr:`Graph.explained`, :attr:`Graph.output_labels`,
  :attr:`Graph.feature_names`, :attr:`Graph.default_target`, :attr:`Graph.conserves`;
  set with :meth:`Graph.declare`), and ``meta`` for numbers specific to one neuralizer
  (β, γ, thresholds).

Every call site is its own node, so a module applied twice gives two nodes
(``layer1.0.relu``, ``layer1.0.relu:1``). The ops are registered as submodules under their
node names (``graph.state_dict()`` keys read ``ops.layer1/0/conv1.weight``: torch reserves
``.`` for nesting, so it is written ``/``), and ``to``, ``apply``, ``state_dict`` and
``load_state_dict`` behave as for any ``nn.Module``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import torch
from torch import nn

from .naming import unique_name
from .ops import Op

__all__ = ["Graph", "Node", "InputSpec", "GraphInputError", "GraphLintError"]

#: What importers and neuralizers may declare about a graph (see :meth:`Graph.declare`).
DECLARATIONS = ("source", "explained", "output_labels", "feature_names", "default_target",
                "conserves")


class GraphInputError(ValueError):
    """An input does not fit the graph (rank, channels, features, dtype, NaN/inf)."""


class GraphLintError(ValueError):
    """The graph breaks one of its invariants (see :meth:`Graph.lint`)."""


class _Scope(nn.Module):
    """The container of a graph's ops, keyed by node name (:meth:`Graph.op_key`)."""


def _module_key(name: str) -> str:
    """A node name as a submodule name, one-to-one: ``%`` written ``%25`` and ``/`` written
    ``%2F`` (so no escape is ambiguous), then ``.`` written ``/`` (torch reserves ``.`` for
    nesting); a name that would shadow an ``nn.Module`` attribute (``type``, ``float``, …)
    gets a final ``%``, which no escaped name otherwise ends in."""
    key = name.replace("%", "%25").replace("/", "%2F").replace(".", "/")
    return key + "%" if hasattr(_Scope, key) else key


@dataclass(frozen=True)
class InputSpec:
    """A graph input: its name and per-sample shape (``None`` marks a free axis).

    ``vocabulary`` is set for an input of integer token ids (read by an embedding): ids must
    lie in [0, vocabulary).
    """

    name: str
    shape: tuple
    vocabulary: int | None = None

    def describe(self) -> str:
        dims = ", ".join("*" if s is None else str(s) for s in self.shape)
        shape = f"(N, {dims})" if dims else "(N,)"
        return shape if self.vocabulary is None else \
            f"{shape} token ids in [0, {self.vocabulary})"


@dataclass(frozen=True)
class Node:
    """One node: ``op`` applied to the outputs of the nodes named in ``inputs``."""

    name: str
    op: Op
    inputs: tuple[str, ...]
    meta: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def kind(self) -> str:
        return self.op.kind


class Graph(nn.Module):
    """A model as a DAG of named nodes with exact torch ops.

    Examples
    --------
    >>> g = Graph()
    >>> g.add_input("x", (3,))
    'x'
    >>> g.add_node("fc", Linear(torch.ones(2, 3), torch.zeros(2)), ["x"])
    'fc'
    >>> g.set_output("fc")
    >>> g(torch.ones(4, 3)).shape
    torch.Size([4, 2])
    """

    def __init__(self):
        super().__init__()
        self.ops = _Scope()
        self.structure = nx.DiGraph()
        self.input_specs: list[InputSpec] = []
        self.output: str | None = None
        self.aliases: dict[str, str] = {}
        self.meta: dict = {}
        self.source = None
        self.explained: str | None = None
        self.output_labels = None
        self.feature_names: list[str] | None = None
        self.default_target = None
        self.conserves: bool = False
        self.version = 0
        self._nodes: dict[str, Node] = {}
        self._order: list[Node] | None = None
        self._rank: dict[str, str] = {}

    # ------------------------------------------------------------------ declarations
    def declare(self, **facts) -> Graph:
        """Record what the importer or neuralizer knows about the model; returns the graph.

        The facts are keyword arguments (``**facts``); an unknown one is a TypeError.

        Other Parameters
        ----------------
        source : object
            The model the graph was made from (the fitted estimator or pipeline, the module's
            class name for torch imports).
        explained : str
            What the default explained output is, in words (shown to users).
        output_labels : sequence
            One label per output column, of the estimator's own type (``classes_`` for
            classifiers, cluster indices for k-means); ``lrp.explain`` reads targets as these.
        feature_names : sequence of str
            One name per input feature (tabular graphs).
        default_target : callable or None
            ``out -> mask`` used when ``lrp.explain`` gets ``target=None``.
        conserves : bool
            Whether the default rules conserve relevance exactly (up to shares absorbed at
            coincident points), so that ``neon.testing.check_neuralizer`` checks it.
        """
        unknown = sorted(set(facts) - set(DECLARATIONS))
        if unknown:
            raise TypeError(f"Graph.declare got unknown fact(s) {unknown}; known: "
                            f"{', '.join(DECLARATIONS)}")
        if facts.get("feature_names") is not None:
            names = [str(n) for n in facts["feature_names"]]
            width = self.input_specs[0].shape[0] if self.input_specs and len(
                self.input_specs[0].shape) == 1 else None
            if width is not None and len(names) != width:
                raise ValueError(f"{len(names)} feature names for an input of {width} "
                                 "features")
            facts["feature_names"] = names
        if facts.get("output_labels") is not None:
            facts["output_labels"] = np.asarray(facts["output_labels"])
        for key, value in facts.items():
            setattr(self, key, value)
        return self

    # ------------------------------------------------------------------ building
    def add_input(self, name: str, shape: Iterable, *, vocabulary: int | None = None) -> str:
        """Declare a graph input with per-sample ``shape`` (``None`` for a free axis);
        ``vocabulary``: the input holds integer token ids in [0, vocabulary)."""
        self._check_new_name(name)
        self.input_specs.append(InputSpec(name, tuple(shape), vocabulary))
        self.structure.add_node(name)
        self._changed()
        return name

    def add_node(self, name: str, op: Op, inputs: Iterable[str], **meta) -> str:
        """Add ``op`` reading the nodes ``inputs``; returns ``name``."""
        self._check_new_name(name)
        if not isinstance(op, Op):
            raise TypeError(f"node {name!r}: op must be a neon.ops.Op, got {type(op).__name__}")
        inputs = tuple(self.resolve(i) for i in inputs)
        for i in inputs:
            if i not in self.structure:
                raise KeyError(f"node {name!r} reads {i!r}, which is not in the graph")
        if op.arity is not None and len(inputs) != op.arity:
            raise ValueError(f"node {name!r}: {type(op).__name__} takes {op.arity} input(s), "
                             f"got {len(inputs)}")
        self._register_op(name, op)
        self._nodes[name] = Node(name, op, inputs, dict(meta))
        self.structure.add_node(name)
        for i in inputs:
            self.structure.add_edge(i, name)
        self._changed()
        return name

    def _register_op(self, name: str, op: Op) -> None:
        """Register ``op`` as the submodule ``ops[op_key(name)]``."""
        key = _module_key(name)
        if key in self.ops._modules:    # cannot happen for distinct names; never overwrite
            raise ValueError(f"node name {name!r} maps to the op key {key!r} of another node")
        self.ops.add_module(key, op)

    def op_key(self, name: str) -> str:
        """The key of node ``name``'s op in ``graph.ops`` and in ``state_dict`` (after
        ``ops.``): the node name with ``.`` written ``/`` (torch reserves ``.`` for nesting);
        see :func:`_module_key` for the rare escapes."""
        return _module_key(self.resolve(name))

    def _changed(self) -> None:
        self._order = None
        self.version += 1

    def unique_name(self, base: str) -> str:
        """``base``, or ``base:1``, ``base:2``, … : the first name no node or input has."""
        return unique_name(base, self)

    def set_output(self, name: str) -> None:
        """Declare which node's value ``graph(x)`` returns."""
        name = self.resolve(name)
        if name not in self.structure:
            raise KeyError(f"output {name!r} is not a node of the graph")
        self.output = name
        self._changed()

    def lint(self) -> Graph:
        """Check the graph's invariants; raise :class:`GraphLintError` naming each broken one.

        Checked: at least one input and an output that is a node; the structure is acyclic;
        every node reads only existing nodes, with the arity its op declares, and its edges
        match ``inputs``; names are unique non-empty strings (inputs and nodes together);
        every op is registered under its node name; aliases point at existing nodes and
        form no cycle. Returns the graph, so ``graph.lint()`` chains.
        """
        problems = []
        if not self.input_specs:
            problems.append("the graph has no input")
        names = self.input_names + list(self._nodes)
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            problems.append(f"duplicate names {dup}")
        if self.output is None:
            problems.append("no output is set (call set_output)")
        elif self.output not in self.structure:
            problems.append(f"output {self.output!r} is not a node")
        if not nx.is_directed_acyclic_graph(self.structure):
            problems.append(f"the structure has a cycle: {nx.find_cycle(self.structure)}")
        registered = dict(self.ops.named_children())
        for node in self._nodes.values():
            missing = [i for i in node.inputs if i not in self.structure]
            if missing:
                problems.append(f"node {node.name!r} reads {missing}, which no node produces")
            if node.op.arity is not None and len(node.inputs) != node.op.arity:
                problems.append(f"node {node.name!r}: {type(node.op).__name__} takes "
                                f"{node.op.arity} input(s), has {len(node.inputs)}")
            if set(self.structure.predecessors(node.name)) != set(node.inputs):
                problems.append(f"node {node.name!r}: edges do not match its inputs")
            if registered.get(self.op_key(node.name)) is not node.op:
                problems.append(f"node {node.name!r}: its op is not registered under its name")
        for alias in self.aliases:
            target = self.resolve(alias)
            if target not in self.structure:
                problems.append(f"alias {alias!r} points at {target!r}, which is not a node")
        if problems:
            raise GraphLintError("graph lint failed:\n  " + "\n  ".join(problems))
        return self

    def _check_new_name(self, name):
        if not isinstance(name, str) or not name:
            raise ValueError(f"node names must be non-empty strings, got {name!r}")
        if name in self.structure or name in self.aliases:
            raise ValueError(f"a node named {name!r} already exists")

    # ------------------------------------------------------------------ reading
    @property
    def input_names(self) -> list[str]:
        return [s.name for s in self.input_specs]

    def resolve(self, name: str) -> str:
        """The node that now computes ``name`` (a rewrite may have merged it into another)."""
        seen = set()
        while name in self.aliases and name not in seen:
            seen.add(name)
            name = self.aliases[name]
        return name

    def __getitem__(self, name: str) -> Node:
        key = self.resolve(name)
        if key not in self._nodes:
            raise KeyError(f"no node named {name!r}; nodes: {', '.join(self._nodes)}")
        return self._nodes[key]

    def __contains__(self, name) -> bool:
        return self.resolve(name) in self.structure

    def is_op_node(self, name: str) -> bool:
        """Whether ``name`` (after aliases) is an op node (not a graph input)."""
        return self.resolve(name) in self._nodes

    def __len__(self) -> int:
        return len(self._nodes)

    @property
    def nodes(self) -> list[Node]:
        """The op nodes in topological order (cached)."""
        if self._order is None:
            order = nx.lexicographical_topological_sort(self.structure, key=self._position)
            self._order = [self._nodes[n] for n in order if n in self._nodes]
        return self._order

    def _position(self, name):
        # keep insertion order among ready nodes, so the order reads like the model's code
        if len(self._rank) != self.structure.number_of_nodes():
            self._rank = {n: f"{i:08d}" for i, n in enumerate(self.structure.nodes)}
        return self._rank[name]

    def consumers(self, name: str) -> list[str]:
        """Names of the nodes that read ``name``."""
        return list(self.structure.successors(self.resolve(name)))

    @property
    def device(self) -> torch.device:
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the graph's tensors (torch's default if it holds none)."""
        return self._held_dtype() or torch.get_default_dtype()

    def _held_dtype(self) -> torch.dtype | None:
        for b in self.buffers():
            if b.is_floating_point():
                return b.dtype
        return None  # no tensors (ReLU, pooling, …): any floating dtype runs

    # ------------------------------------------------------------------ running
    def forward(self, *xs, keep=None):
        """Run the graph.

        Parameters
        ----------
        *xs : torch.Tensor, numpy.ndarray, DataFrame or list of rows
            One per graph input, batch first (see :meth:`check_inputs`). Tensors in give
            tensors out; anything else gives numpy out.
        keep : None, True, "all" or iterable of str
            ``None``: return only the output. ``True``/``"all"``: also return a dict of every
            node's value (inputs included). A name or a list of names: those nodes' values.

        Returns
        -------
        output, or (output, activations)
        """
        from_numpy = any(not isinstance(x, torch.Tensor) for x in xs)
        if isinstance(keep, str) and keep != "all":
            keep = [keep]
        xs = self.check_inputs(*xs)
        run_keep = keep if keep is None or keep is True or keep == "all" else \
            {self.resolve(k) for k in keep}
        values = self._run(xs, True if run_keep == "all" else run_keep)
        out = values[self.output]
        if keep is None:
            return out.detach().cpu().numpy() if from_numpy else out
        if keep is True or keep == "all":
            kept = values
        else:
            missing = [name for name in keep if self.resolve(name) not in values]
            if missing:
                raise KeyError(f"keep names unknown node(s) {missing}; nodes: "
                               f"{', '.join(self.input_names + list(self._nodes))}")
            kept = {name: values[self.resolve(name)] for name in keep}
        if from_numpy:
            return (out.detach().cpu().numpy(),
                    {k: v.detach().cpu().numpy() for k, v in kept.items()})
        return out, kept

    def activations(self, *xs, validated: bool = False, keep=None) -> dict:
        """Every node's value, inputs included, as a dict of tensors (no autograd graph kept
        unless the caller enables it).

        ``validated=True`` skips :meth:`check_inputs` for tensors it already returned (callers
        that validate once and then run chunks, such as :func:`lrp.explain`). ``keep``: a
        list of node names (after :meth:`node_of`) to return only those and the output,
        freeing every other value as soon as no later node reads it.
        """
        if not validated:
            xs = self.check_inputs(*xs)
        if keep is None:
            return self._run(list(xs), True)
        return self._run(list(xs), {self.resolve(k) for k in keep})

    def node_of(self, name: str) -> str:
        """The node that ``name`` means: a node or input name (or an alias a rewrite left),
        or the name of a source module, which means that module's output node.

        For a torch import, node names are the modules' qualified names (``layer4.1.conv2``,
        ``layer4.1.relu:1`` for a module's second call), so ``"layer4"`` on a torchvision
        ResNet is the last node inside ``layer4`` whose value leaves it. Raises KeyError
        listing close names when nothing matches, and ValueError when a module has several
        outputs.
        """
        if not isinstance(name, str):
            raise TypeError(f"a node is named by a string, got {name!r}")
        key = self.resolve(name)
        if key in self.structure:
            return key
        prefix = name + "."
        inside = [n for n in self.structure if n.startswith(prefix)
                  or n.split(":")[0] == name]
        if not inside:
            import difflib

            known = self.input_names + list(self._nodes)
            close = difflib.get_close_matches(name, known, n=5, cutoff=0.5)
            hint = f"; close names: {', '.join(close)}" if close else ""
            raise KeyError(f"no node or source module named {name!r}{hint}. Nodes: "
                           f"{', '.join(known[:12])}{', …' if len(known) > 12 else ''}")
        members = set(inside)
        leaving = [n for n in inside if n == self.output or any(
            c not in members for c in self.structure.successors(n))]
        if len(leaving) != 1:
            raise ValueError(f"module {name!r} has {len(leaving)} output nodes "
                             f"({', '.join(leaving)}); name one of them")
        return leaving[0]

    def _run(self, xs, keep):
        values = dict(zip(self.input_names, xs))
        if keep is not True:
            remaining = {n: self.structure.out_degree(n) for n in self.structure}
            wanted = set() if keep is None else keep
        for node in self.nodes:
            args = [values[i] for i in node.inputs]
            try:
                values[node.name] = node.op(*args)
            except RuntimeError as err:
                shapes = ", ".join(str(tuple(a.shape)) for a in args)
                expected = "; ".join(f"{s.name}: {s.describe()}" for s in self.input_specs)
                raise GraphInputError(
                    f"node {node.name!r} ({type(node.op).__name__}) failed on input(s) of shape "
                    f"{shapes}: {err}. The graph expects {expected}; the input given was "
                    f"{', '.join(str(tuple(x.shape)) for x in xs)}.") from err
            if keep is not True:  # free what no later node reads
                for i in dict.fromkeys(node.inputs):  # once per input, even if read twice
                    remaining[i] -= 1
                    if remaining[i] == 0 and i != self.output and i not in wanted:
                        values.pop(i, None)
        return values

    def check_inputs(self, *xs) -> list[torch.Tensor]:
        """Validate and convert inputs: count, kind, rank, fixed axes, dtype, finiteness.

        Accepted per graph input: a tensor, a numpy array, a pandas DataFrame (its columns
        must be the graph's ``feature_names``, in order, when it declares them), or a list of
        rows. Conversion is the same for numpy and torch: values are cast to the graph's
        dtype when that loses nothing (integers, float16/32 into a float64 graph); a float64
        input into a float32 graph is refused — convert the input, or move the graph with
        ``graph.to(torch.float64)``. Complex, boolean, sparse and non-finite inputs are
        refused with the reason.
        """
        if len(xs) != len(self.input_specs):
            raise GraphInputError(f"the graph takes {len(self.input_specs)} input(s) "
                                  f"({', '.join(self.input_names)}), got {len(xs)}")
        return [self._check_input(x, spec) for x, spec in zip(xs, self.input_specs)]

    def _check_input(self, x, spec: InputSpec) -> torch.Tensor:
        held = self._held_dtype()
        if hasattr(x, "toarray") and hasattr(x, "nnz"):
            raise GraphInputError(f"input {spec.name!r} is a sparse matrix "
                                  f"({type(x).__name__}); graphs take dense arrays: pass "
                                  "x.toarray()")
        if hasattr(x, "columns") and hasattr(x, "to_numpy"):
            x = self._frame_values(x, spec)
        elif hasattr(x, "to_numpy") and hasattr(x, "index") and len(spec.shape) == 1:
            raise GraphInputError(f"input {spec.name!r} is a pandas Series: one row? pass a "
                                  "DataFrame of rows, e.g. X.iloc[[0]] instead of X.iloc[0]")
        elif isinstance(x, (list, tuple)):
            typed = any(isinstance(r, (np.ndarray, np.generic, torch.Tensor)) for r in x)
            if typed and all(isinstance(r, torch.Tensor) for r in x):
                x = torch.stack(list(x))     # rows that carry a dtype follow the array rule
            try:
                if not isinstance(x, torch.Tensor):   # Python numbers have no dtype of their own
                    x = np.asarray(x, dtype=None if typed or held is None else torch.empty(
                        0, dtype=held).numpy().dtype)
            except ValueError as err:
                raise GraphInputError(f"input {spec.name!r}: a list of rows must be "
                                      f"rectangular ({err})") from None
        if isinstance(x, np.ndarray):
            if np.iscomplexobj(x):
                raise GraphInputError(f"input {spec.name!r} is complex ({x.dtype}); relevance "
                                      "is defined for real inputs: pass x.real (or abs(x)) "
                                      "explicitly")
            if x.dtype == bool:
                raise GraphInputError(f"input {spec.name!r} is boolean; pass "
                                      "x.astype(float) if 0/1 values are meant")
            if not np.issubdtype(x.dtype, np.number):
                raise GraphInputError(f"input {spec.name!r}: numeric array expected, "
                                      f"got dtype {x.dtype}")
            x = torch.from_numpy(np.array(x, copy=not x.flags.writeable or None))
        if not isinstance(x, torch.Tensor):
            raise GraphInputError(f"input {spec.name!r}: expected a torch.Tensor, numpy array, "
                                  f"DataFrame or list of rows, got {type(x).__name__}")
        if x.is_complex():
            raise GraphInputError(f"input {spec.name!r} is complex ({x.dtype}); relevance is "
                                  "defined for real inputs: pass x.real explicitly")
        if x.dtype == torch.bool:
            raise GraphInputError(f"input {spec.name!r} is boolean; pass x.float() (or "
                                  "x.astype(float)) if 0/1 values are meant")
        x = self._token_ids(x, spec) if spec.vocabulary is not None else \
            self._cast(x, spec, held)
        if x.dim() != len(spec.shape) + 1:
            hint = ""
            if x.dim() == len(spec.shape) and all(
                    w is None or w == g for w, g in zip(spec.shape, x.shape)):
                hint = (" — this looks like one sample without its batch axis: pass x[None] "
                        "(or x.unsqueeze(0)) for a batch of one")
            raise GraphInputError(
                f"input {spec.name!r}: expected shape {spec.describe()} (batch first), "
                f"got {tuple(x.shape)} with rank {x.dim()}{hint}")
        for axis, (want, got) in enumerate(zip(spec.shape, x.shape[1:]), start=1):
            if want is not None and want != got:
                what = "channels" if axis == 1 and len(spec.shape) > 1 else "features"
                what = what if axis == 1 else f"size of axis {axis}"
                fixed = self.meta.get("shape_fixed_by")
                why = (f"; the import fixed this size ({fixed[0]}{' …' if len(fixed) > 1 else ''}"
                       " was written out for the example's size): import the model again "
                       "with an example of the new size") if fixed else ""
                raise GraphInputError(
                    f"input {spec.name!r}: expected {want} {what}, got {got} "
                    f"(input shape {tuple(x.shape)}, expected {spec.describe()}){why}")
        if not bool(torch.isfinite(x.sum())) and not bool(torch.isfinite(x).all()):
            # a finite sum means every value is finite (NaN and ±inf propagate); only an
            # overflowing or non-finite sum needs the elementwise test
            bad = int((~torch.isfinite(x)).sum())
            raise GraphInputError(f"input {spec.name!r} contains {bad} NaN or infinite "
                                  "value(s); explanations of non-finite inputs are undefined")
        return x

    def _cast(self, x: torch.Tensor, spec: InputSpec, held) -> torch.Tensor:
        """``x`` on the graph's device in its dtype; refused when that would lose precision."""
        target = held or (x.dtype if x.is_floating_point() else torch.get_default_dtype())
        if x.is_floating_point() and x.dtype != target and \
                torch.finfo(x.dtype).bits > torch.finfo(target).bits:
            raise GraphInputError(
                f"input {spec.name!r} has dtype {x.dtype} but the graph holds {target}: "
                "converting would lose precision. Convert the input (x.float() / "
                f"x.astype(np.float32)) or move the graph with graph.to({x.dtype})")
        if not x.is_floating_point() and x.numel():
            exact = 2 ** {torch.float16: 11, torch.bfloat16: 8, torch.float32: 24}.get(
                target, 53)                                   # integers a float holds exactly
            if float(x.abs().max()) > exact:
                raise GraphInputError(
                    f"input {spec.name!r} holds integers beyond ±{exact} that {target} cannot "
                    "represent exactly; convert them yourself (or move the graph to float64)")
        return x.to(device=self.device, dtype=target)

    def _token_ids(self, x: torch.Tensor, spec: InputSpec) -> torch.Tensor:
        """Token ids as int64 on the graph's device: integers (or integral floats) in
        [0, vocabulary); anything else is refused naming the first offending id."""
        if x.is_floating_point():
            bad = ~torch.isfinite(x) | (x != x.round())
            if bool(bad.any()):
                value = x[bad][0].item()
                raise GraphInputError(
                    f"input {spec.name!r} holds token ids, which must be integers; got "
                    f"{value!r} ({x.dtype}). Pass the ids as an integer array (ids.long())")
        x = x.to(device=self.device, dtype=torch.int64)
        if x.numel():
            low, high = int(x.min()), int(x.max())
            if low < 0 or high >= spec.vocabulary:
                value = low if low < 0 else high
                raise GraphInputError(
                    f"input {spec.name!r}: token id {value} is outside the vocabulary "
                    f"[0, {spec.vocabulary}); map unknown words to an id the embedding has "
                    "(an <unk> token)")
        return x

    def _frame_values(self, frame, spec: InputSpec) -> np.ndarray:
        """A DataFrame's values, its columns checked against the declared feature names."""
        columns = [str(c) for c in frame.columns]
        if self.feature_names is not None and columns != self.feature_names:
            missing = [n for n in self.feature_names if n not in columns]
            extra = [c for c in columns if c not in self.feature_names]
            if missing or extra:
                detail = (f"missing {missing[:5]}" if missing else "") + \
                         (", " if missing and extra else "") + \
                         (f"unexpected {extra[:5]}" if extra else "")
            else:
                detail = "the same names in another order; reorder with df[graph.feature_names]"
            raise GraphInputError(f"input {spec.name!r}: the DataFrame's columns do not match "
                                  f"the graph's feature names ({detail})")
        numeric = frame.select_dtypes(include="number")
        if numeric.shape[1] != frame.shape[1]:
            bad = [str(c) for c in frame.columns if c not in numeric.columns]
            raise GraphInputError(f"input {spec.name!r}: non-numeric DataFrame column(s) "
                                  f"{bad[:5]}; encode them before explaining")
        try:
            return frame.to_numpy(dtype=np.result_type(*frame.dtypes.map(
                lambda d: np.dtype(getattr(d, "numpy_dtype", d)))))
        except (TypeError, ValueError):
            return frame.to_numpy(dtype=np.float64)     # nullable dtypes (Float64, Int64)

    # ------------------------------------------------------------------ copying
    def copy(self) -> Graph:
        """A deep copy (ops and structure)."""
        return copy.deepcopy(self)

    def __deepcopy__(self, memo):
        new = Graph()
        for spec in self.input_specs:
            new.add_input(spec.name, spec.shape, vocabulary=spec.vocabulary)
        for node in self.nodes:
            new.add_node(node.name, copy.deepcopy(node.op, memo), node.inputs, **node.meta)
        new.output = self.output
        new.aliases = dict(self.aliases)
        new.meta = copy.deepcopy(self.meta, memo)
        new.copy_declarations(self, memo)
        return new

    def copy_declarations(self, other: Graph, memo=None) -> None:
        """Take ``other``'s declarations (the source model is shared, not copied)."""
        for key in DECLARATIONS:
            value = getattr(other, key)
            setattr(self, key, value if key == "source" else copy.deepcopy(value, memo))

    # ------------------------------------------------------------------ reports
    def summary(self, example=None) -> str:
        """A table of nodes: name, op, inputs, output shape and parameter count.

        Output shapes come from ``example`` (default: ``meta["example_input"]`` if present).
        """
        example = self.meta.get("example_input") if example is None else example
        shapes = {}
        if example is not None:
            example = example if isinstance(example, tuple) else (example,)
            with torch.no_grad():
                _, acts = self.forward(*[e.to(self.device, self.dtype) for e in example],
                                       keep=True)
            shapes = {k: tuple(v.shape) for k, v in acts.items()}
        rows = [("node", "op", "inputs", "output shape", "params")]
        for spec in self.input_specs:
            rows.append((spec.name, "Input", "", str(shapes.get(spec.name, spec.describe())), "0"))
        total = 0
        for node in self.nodes:
            n = node.op.n_parameters()
            total += n
            rows.append((node.name, type(node.op).__name__, ", ".join(node.inputs),
                         str(shapes.get(node.name, "")), f"{n:,}"))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"{len(self)} nodes, {total:,} parameters, output: {self.output}")
        return "\n".join(lines)

    def __repr__(self):
        return f"Graph({len(self)} nodes, inputs={self.input_names}, output={self.output!r})"

    def draw(self, ax=None, **kwargs):
        """Draw the DAG with matplotlib, layered by topological generation. Returns the axes."""
        from .plot import draw_graph

        return draw_graph(self, ax=ax, **kwargs)
