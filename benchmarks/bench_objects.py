"""Object matching + panoptic quality side by side with MONAI and torchmetrics (issue #20).

Cases: a batch of 2D instance maps (64 images of 512 x 512, about 50 nuclei-like objects each) and 3D volumes with
200 objects. The prediction is the reference with each object moved and resized a little, 10 % of them dropped and
a few false alarms added (ids not contiguous). Every library gets the same integer tensors and returns PQ, SQ and RQ
of the one foreground class pooled over the batch:

* segbench: ``match_objects(pred, target, instances=True).panoptic_quality()``; "segbench (components)" also
  finds the objects itself, as connected components (8 / 26) of the binary masks (touching objects merge, so its
  values differ);
* MONAI: ``PanopticQualityMetric(num_classes=1, metric_name=("pq", "sq", "rq"))`` on ``(N, 2, *spatial)``
  (instance, class);
* torchmetrics: ``PanopticQuality(things={1}, stuffs={0}, return_sq_and_rq=True, return_per_class=True)`` on
  ``(N, *spatial, 2)`` (class, instance); background is a stuff class, the things' values are compared.

Each (case, library) runs in a fresh subprocess with its address space capped (``--mem-gib``), so that a peer that
would need more memory fails alone; peak memory is the growth of the process's maximum resident set size during the
first call (inputs and imports excluded); segbench's time is the best of ``--repeats`` later calls, a peer's the time
of its one call (they take minutes at these sizes).

Usage: ``python benchmarks/bench_objects.py [--quick] [--repeats N] [--write benchmarks/RESULTS-objects.md]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_section  # benchmarks/_results.py (scripts run from this folder)
from bench_distance import _timed  # the one timing helper of the benchmarks: (value, best s, first-call peak MiB)

CASES: dict[str, tuple[int, tuple[int, ...], int, tuple[float, float]]] = {
    # name: (images, spatial shape, objects per image, radius range)
    "2D 64 x 512^2 (~50 objects each)": (64, (512, 512), 50, (8.0, 20.0)),
    "3D 128^3 (200 objects)": (1, (128, 128, 128), 200, (3.0, 7.0)),
    "3D 256^3 (200 objects)": (1, (256, 256, 256), 200, (6.0, 14.0)),
}
LIBS = ("segbench", "segbench (components)", "monai", "torchmetrics")
SECTION = "## Object matching and panoptic quality (issue #20)"


def _ball(out: np.ndarray, centre: np.ndarray, radius: float, value: int) -> None:
    """Paint a ball into ``out`` inside its bounding box (cheap for many small objects)."""
    lo = np.maximum(np.floor(centre - radius).astype(int), 0)
    hi = np.minimum(np.ceil(centre + radius).astype(int) + 1, out.shape)
    if np.any(hi <= lo):
        return
    grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi, strict=True)], indexing="ij", sparse=True)
    inside = sum((g - c) ** 2 for g, c in zip(grids, centre, strict=True)) < radius * radius
    box = out[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    box[inside] = value


def make_case(case: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(pred, target) int32 instance maps ``(N, *spatial)``."""
    n, shape, k, (rmin, rmax) = CASES[case]
    rng = np.random.default_rng(seed)
    target = np.zeros((n, *shape), np.int32)
    pred = np.zeros((n, *shape), np.int32)
    for i in range(n):
        centres = rng.uniform(0, 1, (k, len(shape))) * np.asarray(shape)
        radii = rng.uniform(rmin, rmax, k)
        for j in range(k):
            _ball(target[i], centres[j], radii[j], j + 1)
            if rng.uniform() < 0.1:
                continue  # a miss
            jitter = rng.normal(0, 0.15 * radii[j], len(shape))
            _ball(pred[i], centres[j] + jitter, radii[j] * rng.uniform(0.8, 1.2), 3 * j + 7)
        for j in range(max(k // 20, 1)):  # false alarms
            _ball(pred[i], rng.uniform(0, 1, len(shape)) * np.asarray(shape), rmin, 10_000 + j)
    return pred, target


def _calls(lib: str, pred: np.ndarray, target: np.ndarray) -> Any:
    import torch

    p, t = torch.from_numpy(pred), torch.from_numpy(target)
    if lib == "segbench":
        from segbench.metrics.objects import match_objects

        return lambda: [float(v[0]) for v in match_objects(p, t, instances=True).panoptic_quality()]
    if lib == "segbench (components)":
        from segbench.metrics.objects import match_objects

        pb, tb = p > 0, t > 0
        return lambda: [float(v[0]) for v in match_objects(pb, tb).panoptic_quality()]
    if lib == "monai":
        from monai.metrics import PanopticQualityMetric

        metric = PanopticQualityMetric(num_classes=1, metric_name=("pq", "sq", "rq"))
        yp = torch.stack([p, (p > 0).int()], 1)
        y = torch.stack([t, (t > 0).int()], 1)

        def monai() -> list[float]:
            metric.reset()
            metric(yp, y)
            return [float(v[0]) for v in metric.aggregate()]

        return monai
    from torchmetrics.detection import PanopticQuality

    tm = PanopticQuality(things={1}, stuffs={0}, return_sq_and_rq=True, return_per_class=True)
    yp = torch.stack([(p > 0).int(), p], -1)
    y = torch.stack([(t > 0).int(), t], -1)

    def torchmetrics() -> list[float]:
        tm.reset()
        tm.update(yp, y)
        out = tm.compute()  # (1, 3 values, classes) or (classes, 3): things come first
        out = out.reshape(-1, 3) if out.shape[-1] == 3 else out.reshape(3, -1).T
        return [float(v) for v in out[0]]

    return torchmetrics


def worker(case: str, lib: str, repeats: int, mem_gib: float) -> dict[str, Any]:
    """Time one library on one case; runs in its own process."""
    warnings.filterwarnings("ignore")
    pred, target = make_case(case)
    cap = int(mem_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    result: dict[str, Any] = {"case": case, "lib": lib}
    try:
        fn = _calls(lib, pred, target)
        t0 = time.perf_counter()
        value, best, peak = _timed(fn, repeats)
        if repeats == 0:  # a slow peer: its one (first) call is its time
            best = time.perf_counter() - t0
        result.update(time=best, peak_mib=peak, value=value)
    except (MemoryError, RuntimeError) as e:  # torch reports a failed allocation as RuntimeError
        result.update(error=f"{type(e).__name__} under the {mem_gib:g} GiB cap")
    return result


def _objects(case: str) -> str:
    pred, target = make_case(case)
    n_t = sum(len(np.unique(x)) - 1 for x in target)
    n_p = sum(len(np.unique(x)) - 1 for x in pred)
    return f"{n_t} reference / {n_p} predicted objects"


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for case in dict.fromkeys(r["case"] for r in results):
        rows = [r for r in results if r["case"] == case]
        lines += [f"### {case} ({_objects(case)})", "",
                  "| library | time (s) | peak MiB (first call) | PQ | SQ | RQ |", "|---|---|---|---|---|---|"]
        for r in rows:
            if "error" in r:
                lines.append(f"| {r['lib']} | failed: {r['error']} | - | - | - | - |")
                continue
            pq, sq, rq = r["value"]
            lines.append(f"| {r['lib']} | {r['time']:.4g} | {r['peak_mib']:.4g} | {pq:.6f} | {sq:.6f} | {rq:.6f} |")
        ours = next(r for r in rows if r["lib"] == "segbench")
        peers = [r for r in rows if r["lib"] in ("monai", "torchmetrics") and "error" not in r]
        lines.append("")
        if peers and "time" in ours:
            fastest = min(peers, key=lambda r: r["time"])
            ratio = fastest["time"] / ours["time"]
            lines.append(f"segbench: {ratio:.1f}x faster than the faster peer that ran ({fastest['lib']}); goal >= 5x: "
                         f"**{'met' if ratio >= 5 else 'not met'}**.")
            lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "LIB"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mem-gib", type=float, default=8.0, help="address-space cap of each worker process")
    ap.add_argument("--quick", action="store_true", help="skip the 256^3 case")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names (default: all)")
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--write", type=Path, default=None, help="RESULTS-objects.md to update")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.repeats, args.mem_gib)))
        return
    results = []
    for case in args.cases.split(","):
        if args.quick and "256" in case:
            continue
        for lib in args.libs.split(","):
            repeats = args.repeats if lib.startswith("segbench") else 0
            out = subprocess.run(
                [sys.executable, __file__, "--worker", case, lib, "--repeats", str(repeats),
                 "--mem-gib", str(args.mem_gib)],
                capture_output=True, text=True,
            )
            lines = out.stdout.strip().splitlines()
            if out.returncode != 0 or not lines:
                results.append({"case": case, "lib": lib, "error": f"exit {out.returncode}: "
                                + (out.stderr.strip().splitlines() or ["?"])[-1][:80]})
            else:
                results.append(json.loads(lines[-1]))
            print(case, lib, {k: v for k, v in results[-1].items() if k in ("time", "peak_mib", "value", "error")},
                  flush=True)
    import torch

    header = (
        f"Measured by `benchmarks/bench_objects.py` on {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}; best of {args.repeats} runs after a "
        "first call for segbench; one call for the peers (they take minutes), each library in its own process "
        f"capped at {args.mem_gib:g} GiB of address space. Matching at IoU > 0.5; PQ, SQ, RQ of the foreground "
        "class pooled over the batch. segbench and the peers agree to float32 rounding (MONAI adds 1e-6 to its "
        "denominators; tests in tests/metrics/test_objects.py).\n"
    )
    body = header + "\n" + table(results)
    print(body)
    if args.write:
        write_section(args.write, SECTION, body)


if __name__ == "__main__":
    main()
