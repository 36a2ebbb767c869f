"""The one way a benchmark script writes its section of ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import re
from pathlib import Path


def write_section(path: Path, section: str, body: str) -> None:
    """Replace the block under the heading ``section`` (up to the next ``## `` heading) with ``body``, or append
    it; every other section of the file is left as it is."""
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{section}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    path.write_text(text)
