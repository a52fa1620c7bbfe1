"""Search spaces: declared in TOML or brought by plugins; an Architecture is one point of a space."""

from hwnas.space.registry import ENTRY_POINT_GROUP, Preset, SearchSpace, discover, get_preset, get_space

__all__ = ["ENTRY_POINT_GROUP", "Preset", "SearchSpace", "discover", "get_preset", "get_space"]
