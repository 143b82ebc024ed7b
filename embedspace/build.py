"""Moved to `embedspace.index.build`. This name stays so that `embedspace.build.build_index` and
`remove_items`, as documented before the package was split into layers, keep working."""

from .index.build import BuildReport, build_index, remove_items

__all__ = ["BuildReport", "build_index", "remove_items"]
