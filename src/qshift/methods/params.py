"""Which encoder parameters adapt: the ``params`` argument of every adapter."""

from __future__ import annotations

from torch import nn

from qshift.encoders.base import ParamSpec

NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.batchnorm._BatchNorm,
)


def norm_parameters(module: nn.Module) -> list[nn.Parameter]:
    """Affine weight and bias of every LayerNorm/GroupNorm/BatchNorm in ``module``.

    Modules are matched by type, plus any module whose class name ends in ``LayerNorm`` or
    ``RMSNorm`` (several backbones define their own norm classes with an affine weight).
    """
    found: list[nn.Parameter] = []
    seen: set[int] = set()
    for sub in module.modules():
        is_norm = isinstance(sub, NORM_TYPES) or type(sub).__name__.endswith(("LayerNorm", "RMSNorm"))
        if not is_norm:
            continue
        for name in ("weight", "bias"):
            param = getattr(sub, name, None)
            if isinstance(param, nn.Parameter) and id(param) not in seen:
                seen.add(id(param))
                found.append(param)
    return found


def select_parameters(module: nn.Module, spec: ParamSpec) -> list[nn.Parameter]:
    """Resolve ``spec`` ("norm", "all" or a callable) to the list of parameters to adapt."""
    if callable(spec):
        chosen = list(spec(module))
    elif spec == "norm":
        chosen = norm_parameters(module)
    elif spec == "all":
        chosen = list(module.parameters())
    else:
        raise ValueError(f"params must be 'norm', 'all' or a callable, got {spec!r}")
    unique: dict[int, nn.Parameter] = {}
    for param in chosen:
        if not isinstance(param, nn.Parameter):
            raise ValueError(f"params selection returned a non-parameter of type {type(param).__name__}")
        unique.setdefault(id(param), param)
    return list(unique.values())
