"""segbench: segmentation losses and metrics you can trust under class imbalance.

``from segbench import losses, metrics`` gives the two catalogues; ``segbench compare`` (the CLI)
trains identical models that differ only in the loss and reports every metric with confidence intervals.
"""

from __future__ import annotations

__version__ = "0.1.0"

from segbench import losses, metrics

__all__ = ["__version__", "losses", "metrics"]
