"""Adapter classes by platform type.

Built-in adapters are imported plainly (go-to-definition works); adapters shipped by other
packages are discovered through the entry-point group ``oms_bridge.platforms``
(``name = package.module:AdapterClass``), so a new marketplace can be added without editing
this package. A built-in type cannot be replaced by a plug-in of the same name.
"""

from __future__ import annotations

from functools import lru_cache
from importlib.metadata import entry_points

from platforms.base import Adapter
from platforms.cyberbiz.adapter import CyberbizAdapter
from platforms.momo.adapter import MomoAdapter
from platforms.shopee.adapter import ShopeeAdapter
from platforms.shopline.adapter import ShoplineAdapter

__all__ = ["adapter_class", "platform_types", "UnknownPlatform", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "oms_bridge.platforms"
BUILTIN: dict[str, type[Adapter]] = {
    cls.platform_type: cls for cls in (ShopeeAdapter, CyberbizAdapter, MomoAdapter, ShoplineAdapter)
}


class UnknownPlatform(LookupError):
    """No adapter is registered under this platform type."""


@lru_cache(maxsize=1)
def _all() -> dict[str, type[Adapter]]:
    found = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:
            continue
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not an Adapter subclass")
        found[ep.name] = cls
    return found


def platform_types() -> list[str]:
    """Every known platform type, sorted."""
    return sorted(_all())


def adapter_class(platform_type: str) -> type[Adapter]:
    """The adapter class for a type; :class:`UnknownPlatform` lists the known ones."""
    try:
        return _all()[platform_type]
    except KeyError:
        raise UnknownPlatform(
            f"unknown platform type {platform_type!r}; known types: {', '.join(platform_types())}"
        ) from None
