"""segbench: segmentation losses and metrics you can trust under class imbalance.

``from segbench import losses, metrics`` gives the two catalogues; ``segbench compare`` (the CLI)
trains identical models that differ only in the loss and reports every metric with confidence intervals.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segbench import losses, metrics


def __getattr__(name: str) -> Any:
    """``segbench.losses`` and ``segbench.metrics`` are imported on first use, so that ``segbench`` (and the command
    line's first lines, where Ctrl-C must already be an orderly interruption) imports without PyTorch."""
    if name in ("losses", "metrics"):
        return importlib.import_module(f"segbench.{name}")
    raise AttributeError(f"module 'segbench' has no attribute {name!r}")

__all__ = ["__version__", "losses", "metrics"]
