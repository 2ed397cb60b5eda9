"""The one reading of the ``results`` argument of the curve plots: a result, or a dict
method name → result, all of one type and measured alike (shared by :mod:`.removal` and
:mod:`.sanity`)."""

from __future__ import annotations


def named_results(results, kind: type, made_by: str, example: str) -> dict:
    """``results`` as a dict name → result of type ``kind``; one result is named "".

    Parameters
    ----------
    results : kind or dict
    kind : type
        The result class (``RemovalResult``, ``RandomizationResult``).
    made_by : str
        The function that makes it, for messages (``"lrp.metrics.pixel_flipping"``).
    example : str
        A call that makes one, for the message on an empty dict.
    """
    name = kind.__name__
    if isinstance(results, kind):
        return {"": results}
    if not isinstance(results, dict):
        raise TypeError(f"results must be an lrp.metrics.{name} or a dict name → {name} "
                        f"(from {made_by}), got {type(results).__name__}")
    if not results:
        raise ValueError(f"results is empty: give at least one method's {name}, e.g. "
                         f"{{'gradient': {example}}}")
    for key, r in results.items():
        if not isinstance(key, str):
            raise TypeError(f"results' keys are the methods' names (strings), got {key!r}")
        if not isinstance(r, kind):
            raise TypeError(f"results[{key!r}] must be a {name} (from {made_by}), got "
                            f"{type(r).__name__}")
    return dict(results)


def check_alike(results: dict, settings: tuple, advice: str) -> None:
    """Refuse results measured under different settings, naming the first difference.

    ``settings``: (label, attribute) pairs compared with ``==`` against the first result;
    ``advice``: what to do instead, ending the message.
    """
    names = list(results)
    first = results[names[0]]
    for name in names[1:]:
        for what, attribute in settings:
            a, b = getattr(first, attribute), getattr(results[name], attribute)
            if a != b:
                raise ValueError(f"results were measured differently: {names[0]!r} has "
                                 f"{what} {a!r}, {name!r} has {b!r}; {advice}")
