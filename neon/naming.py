"""The one naming helper of the IR: unique, readable node names."""

from __future__ import annotations

from collections.abc import Container

__all__ = ["unique_name"]


def unique_name(base: str, taken: Container) -> str:
    """``base`` if it is free in ``taken``, else ``base:1``, ``base:2``, … (the first free).

    The convention of every importer and neuralizer: a module called k times gives the nodes
    ``name``, ``name:1``, …, ``name:{k-1}``.
    """
    if not isinstance(base, str) or not base:
        raise ValueError(f"node names must be non-empty strings, got {base!r}")
    if base not in taken:
        return base
    k = 1
    while f"{base}:{k}" in taken:
        k += 1
    return f"{base}:{k}"
