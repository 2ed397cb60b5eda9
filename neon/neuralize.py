"""The single public entry point that turns a model into a :class:`neon.Graph`."""

from __future__ import annotations

__all__ = ["neuralize"]


def neuralize(model, data=None, **options):
    """Turn ``model`` into an equivalent :class:`neon.Graph`.

    Parameters
    ----------
    model : torch.nn.Module or fitted scikit-learn estimator
        A torch module is imported with :func:`neon.from_torch`; scikit-learn estimators and
        pipelines are neuralized by the converter registered for their type.
    data : tensor or array, optional
        For a torch module, the example input (required). For an estimator, reference data
        some neuralizers use to set rule parameters (e.g. k-means' relevance stiffness β).
    **options
        Passed on to the importer or neuralizer.

    Returns
    -------
    Graph
    """
    import torch

    if isinstance(model, torch.nn.Module):
        if data is None:
            raise TypeError("neuralize(module, example_input): a torch module needs an example "
                            "input (a batch of one is enough) to be traced")
        from .torch_import import from_torch

        return from_torch(model, data, **options)
    from .sklearn import neuralize_estimator

    return neuralize_estimator(model, data, **options)
