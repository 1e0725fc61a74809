"""Config sections as plain Python values, for components that take plain arguments."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

from omegaconf import OmegaConf


def section(node: Any) -> dict[str, Any]:
    """A config section (composed, or its dataclass object) as a plain dict, lists as lists."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return dataclasses.asdict(node)
    return cast(dict, OmegaConf.to_container(node, resolve=True))


def section_list(node: Any) -> list[Any] | None:
    """A config list (composed, or plain) as a plain list; None stays None."""
    return None if node is None else list(node)
