"""The CAM family (being written)."""

__all__ = ["grad_cam", "guided_grad_cam", "cam"]


def grad_cam(graph, x, target=None, *, node=None, batch_size=None, **options):
    raise NotImplementedError


def guided_grad_cam(graph, x, target=None, *, node=None, batch_size=None, **options):
    raise NotImplementedError


def cam(graph, x, target=None, *, batch_size=None, **options):
    raise NotImplementedError
