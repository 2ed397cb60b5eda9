"""Perturbation methods (being written)."""

__all__ = ["occlusion", "rise", "lime"]


def occlusion(graph, x, target=None, *, batch_size=None, **options):
    raise NotImplementedError


def rise(graph, x, target=None, *, batch_size=None, **options):
    raise NotImplementedError


def lime(graph, x, target=None, *, batch_size=None, **options):
    raise NotImplementedError
