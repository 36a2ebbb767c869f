"""#18: the report seen in headless Chromium at 1400 px: no horizontal scrolling (the page and every table's scroll
box), every figure decoded. Skips where no Chromium is installed (no test may require it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from segbench.report import build_report

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
WIDTH = 1400

PROBE = """<script>window.addEventListener("load", () => {
  document.querySelectorAll("details").forEach(d => d.open = true);
  const root = document.documentElement, images = [...document.images];
  const boxes = [...document.querySelectorAll(".scroll")].filter(e => e.scrollWidth > e.clientWidth + 1);
  const out = document.createElement("pre");
  out.textContent = "PROBE" + JSON.stringify({scroll: root.scrollWidth, client: root.clientWidth,
    images: images.length, broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).length,
    boxes: boxes.map(e => (e.closest("section") || {}).id)});
  document.body.appendChild(out);
});</script>"""


def _probe(page: Path, tmp: Path) -> dict[str, object]:
    probed = tmp / "probe.html"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    assert BROWSER is not None
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},1000",
                          "--virtual-time-budget=5000", "--dump-dom", probed.as_uri()],
                         capture_output=True, text=True, timeout=120, check=False).stdout
    found = re.search(r"PROBE(\{.*?\})</pre>", dom)
    assert found is not None, dom[-500:]
    result: dict[str, object] = json.loads(found.group(1).replace("&quot;", '"'))
    return result


@pytest.mark.skipif(BROWSER is None, reason="no headless Chromium installed (apt-get install chromium)")
@pytest.mark.parametrize("fixture", ["binary_run", "multiclass_run"])
def test_the_report_does_not_scroll_sideways_at_1400_px(fixture: str, tmp_path: Path,
                                                         request: pytest.FixtureRequest) -> None:
    root = tmp_path / "run"
    shutil.copytree(request.getfixturevalue(fixture), root)
    page = build_report(root, n_boot=100, quiet=True, formats=("html",)).html
    seen = _probe(page, tmp_path)
    assert seen["scroll"] == seen["client"] and int(str(seen["client"])) <= WIDTH, seen
    assert seen["boxes"] == [], seen  # no table scrolls inside its box either
    assert int(str(seen["images"])) >= 5 and seen["broken"] == 0, seen


def test_the_probe_would_see_a_wide_table(tmp_path: Path) -> None:
    # the check itself can fail: a 3000 px table makes the page scroll
    if BROWSER is None:
        pytest.skip("no headless Chromium installed")
    page = tmp_path / "wide.html"
    page.write_text('<!DOCTYPE html><html><body><table style="width:3000px"><tr><td>x</td></tr></table>'
                    '<img src="data:image/png;base64,AAAA"></body></html>')
    seen = _probe(page, tmp_path)
    assert int(str(seen["scroll"])) > WIDTH and seen["broken"] == 1
