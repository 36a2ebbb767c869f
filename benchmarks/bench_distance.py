"""Distance metrics (HD, HD95, ASSD, NSD) side by side with MONAI, surface-distance, MedPy and seg-metrics.

Each (case, library) runs in a fresh subprocess: peak memory is the growth of the process's maximum resident
set size during the first call (inputs and imports excluded), time is the best of ``--repeats`` later calls.
"set" is the time for all four metrics: one call for libraries that share work (segbench ``distance_metrics``,
surface-distance's ``compute_surface_distances`` + four readers, seg-metrics ``write_metrics``), the sum of the
single calls for the others (MONAI, MedPy). MedPy and seg-metrics have no NSD. Values are printed next to the
times; the "matching mode" rows show segbench in each peer's definition.

Usage: ``python benchmarks/bench_distance.py [--quick] [--repeats N] [--write benchmarks/RESULTS.md]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_section  # benchmarks/_results.py (scripts run from this folder)

TOL = 1.5  # NSD tolerance in physical units
CASES: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {
    "3D 128^3": ((128, 128, 128), (1.0, 0.8, 2.5)),
    "3D 256^3": ((256, 256, 256), (1.0, 0.8, 2.5)),
    "2D 1024^2": ((1024, 1024), (1.0, 0.8)),
}
LIBS = ("segbench", "segbench-pooled", "segbench-surfel", "monai", "surface-distance", "medpy", "seg-metrics")
METRICS = ("hd", "hd95", "assd", "nsd")
MATCHING = (("segbench", "monai"), ("segbench-pooled", "medpy"), ("segbench-surfel", "surface-distance"))
SECTION = "## Distance metrics (issue #4)"


def make_pair(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A lumpy ellipsoid (target) and a shifted, resized, lumpier copy plus a small false-positive blob.

    Built in slabs along the first axis, so that building it never takes more memory than the masks themselves
    (the peak-memory column measures the first call's growth above what the process held before).
    """
    pred = np.empty(shape, dtype=bool)
    target = np.empty(shape, dtype=bool)
    axes = [np.linspace(-1, 1, n, dtype=np.float32) for n in shape]
    for start in range(0, shape[0], 16):
        stop = min(start + 16, shape[0])
        grids = np.meshgrid(axes[0][start:stop], *axes[1:], indexing="ij")
        r2 = sum((g / a) ** 2 for g, a in zip(grids, (0.55, 0.45, 0.5), strict=False))
        bumps = 0.06 * np.sin(7 * grids[0]) * np.cos(5 * grids[1])
        target[start:stop] = r2 < 1.0 + bumps
        shifted = [g - d for g, d in zip(grids, (0.03, -0.02, 0.01), strict=False)]
        r2p = sum((g / a) ** 2 for g, a in zip(shifted, (0.53, 0.47, 0.5), strict=False))
        blob = sum((g - 0.8) ** 2 for g in grids) < 0.05**2
        pred[start:stop] = (r2p < 1.0 + 1.4 * bumps) | blob
    return pred, target


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, float, float]:
    """(value, best seconds, peak MiB of the first call)."""
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    value = fn()
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024.0
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return value, best, peak


def _segbench(pred: np.ndarray, target: np.ndarray, sp: tuple[float, ...], mode: str) -> dict[str, Callable[[], Any]]:
    import torch

    from segbench.metrics.distance import distance_metrics

    p, t = torch.from_numpy(pred)[None], torch.from_numpy(target)[None]
    kw: dict[str, Any] = dict(spacing=sp, tolerance=TOL)
    if mode == "pooled":
        kw["percentile_rule"] = "pooled"
    if mode == "surfel":
        kw["surface"] = "surfel"

    def one(m: str) -> Callable[[], float]:
        return lambda: float(distance_metrics(p, t, metrics=(m,), **kw)[m][0])

    calls: dict[str, Callable[[], Any]] = {m: one(m) for m in METRICS}
    calls["set"] = lambda: {k: float(v[0]) for k, v in distance_metrics(p, t, metrics=METRICS, **kw).items()}
    return calls


def _monai(pred: np.ndarray, target: np.ndarray, sp: tuple[float, ...]) -> dict[str, Callable[[], Any]]:
    import torch
    from monai.metrics import compute_average_surface_distance, compute_hausdorff_distance, compute_surface_dice

    p, t = torch.from_numpy(pred)[None, None], torch.from_numpy(target)[None, None]
    kw: dict[str, Any] = dict(include_background=True, spacing=sp)
    return {
        "hd": lambda: float(compute_hausdorff_distance(p, t, **kw)),
        "hd95": lambda: float(compute_hausdorff_distance(p, t, percentile=95, **kw)),
        "assd": lambda: float(compute_average_surface_distance(p, t, symmetric=True, **kw)),
        "nsd": lambda: float(compute_surface_dice(p.float(), t.float(), [TOL], **kw)),
    }


def _surface_distance(pred: np.ndarray, target: np.ndarray, sp: tuple[float, ...]) -> dict[str, Callable[[], Any]]:
    if not hasattr(np, "Inf"):  # surface-distance 0.1 predates NumPy 2
        setattr(np, "Inf", np.inf)  # noqa: B010
    import surface_distance as sd

    def pooled_mean(s: dict[str, np.ndarray]) -> float:
        w = np.concatenate([s["surfel_areas_gt"], s["surfel_areas_pred"]])
        d = np.concatenate([s["distances_gt_to_pred"], s["distances_pred_to_gt"]])
        return float(np.sum(w * d) / np.sum(w))

    readers: dict[str, Callable[[dict[str, np.ndarray]], float]] = {
        "hd": lambda s: float(sd.compute_robust_hausdorff(s, 100)),
        "hd95": lambda s: float(sd.compute_robust_hausdorff(s, 95)),
        "assd": pooled_mean,
        "nsd": lambda s: float(sd.compute_surface_dice_at_tolerance(s, TOL)),
    }

    def one(m: str) -> Callable[[], float]:
        return lambda: readers[m](sd.compute_surface_distances(target, pred, sp))

    def all_four() -> dict[str, float]:
        s = sd.compute_surface_distances(target, pred, sp)
        return {m: r(s) for m, r in readers.items()}

    calls: dict[str, Callable[[], Any]] = {m: one(m) for m in METRICS}
    calls["set"] = all_four
    return calls


def _medpy(pred: np.ndarray, target: np.ndarray, sp: tuple[float, ...]) -> dict[str, Callable[[], Any]]:
    from medpy.metric import binary

    return {
        "hd": lambda: float(binary.hd(pred, target, voxelspacing=sp)),
        "hd95": lambda: float(binary.hd95(pred, target, voxelspacing=sp)),
        "assd": lambda: float(binary.assd(pred, target, voxelspacing=sp)),
    }


def _seg_metrics(pred: np.ndarray, target: np.ndarray, sp: tuple[float, ...]) -> dict[str, Callable[[], Any]]:
    from seg_metrics import seg_metrics as sgm

    p, t = pred.astype(np.uint8), target.astype(np.uint8)
    names = {"hd": "hd", "hd95": "hd95", "assd": "msd"}

    def run(ms: list[str]) -> dict[str, float]:
        out = sgm.write_metrics(labels=[1], gdth_img=t, pred_img=p, spacing=list(sp[::-1]), metrics=ms)
        row = out[0] if isinstance(out, list) else out
        return {k: float(np.ravel(row[v])[0]) for k, v in names.items() if v in ms}

    def one(m: str) -> Callable[[], float]:
        return lambda: run([names[m]])[m]

    calls: dict[str, Callable[[], Any]] = {m: one(m) for m in names}
    calls["set"] = lambda: run(list(names.values()))
    return calls


def worker(case: str, lib: str, repeats: int) -> dict[str, Any]:
    """Time one library on one case; runs in its own process."""
    warnings.filterwarnings("ignore")
    shape, sp = CASES[case]
    pred, target = make_pair(shape)
    if lib.startswith("segbench"):
        calls = _segbench(pred, target, sp, lib.partition("-")[2] or "default")
    else:
        calls = {"monai": _monai, "surface-distance": _surface_distance, "medpy": _medpy,
                 "seg-metrics": _seg_metrics}[lib](pred, target, sp)
    result: dict[str, Any] = {"case": case, "lib": lib, "time": {}, "peak_mib": {}, "value": {}}
    order = sorted(calls, key=lambda k: k != "set")  # the set first: its peak memory is a fresh process's
    for name in order:
        fn = calls[name]
        value, best, peak = _timed(fn, repeats)
        result["time"][name] = best
        result["peak_mib"][name] = peak
        if name != "set":
            result["value"][name] = value
    if "set" not in calls:  # no shared path: the set costs the sum of the single calls
        result["time"]["set"] = sum(result["time"].values())
        result["peak_mib"]["set"] = result["peak_mib"][order[0]]
    return result


def _fmt(x: float | None, digits: int = 4) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for case in dict.fromkeys(r["case"] for r in results):
        rows = [r for r in results if r["case"] == case]
        sp = CASES[case][1]
        lines += [f"### {case}, spacing {sp}, NSD tolerance {TOL}", ""]
        lines.append("| library | set of 4 (s) | HD (s) | HD95 (s) | ASSD (s) | NSD (s) | peak MiB (first call) "
                     "| HD | HD95 | ASSD | NSD |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            t, v = r["time"], r["value"]
            lines.append(
                f"| {r['lib']} | {_fmt(t['set'], 3)} | "
                + " | ".join(_fmt(t.get(m), 3) for m in METRICS)
                + f" | {_fmt(r['peak_mib']['set'], 3)} | "
                + " | ".join(_fmt(v.get(m), 8) for m in METRICS) + " |"
            )
        peers = [r for r in rows if not r["lib"].startswith("segbench")]
        ours = next(r for r in rows if r["lib"] == "segbench")
        lines.append("")
        if peers:
            fastest_set = min(peers, key=lambda r: r["time"]["set"])
            set_ratio = fastest_set["time"]["set"] / ours["time"]["set"]
            per_metric = {
                m: min(r["time"][m] for r in peers if m in r["time"]) / ours["time"][m] for m in METRICS
            }
            met = set_ratio >= 5 and min(per_metric.values()) >= 1
            lines.append(
                f"segbench set of 4: {ours['time']['set'] / fastest_set['time']['set'] * 100:.1f} % of the fastest "
                f"peer's ({fastest_set['lib']}), i.e. {set_ratio:.1f}x faster. Per metric, fastest peer / "
                "segbench: " + ", ".join(f"{m} {v:.1f}x" for m, v in per_metric.items())
                + f". Goal (set >= 5x, every metric >= 1x): **{'met' if met else 'not met'}**."
            )
            matching = [(mode, peer) for mode, peer in MATCHING if any(r["lib"] == peer for r in rows)]
            ratios = []
            for mode, peer in matching:
                mine = next((r for r in rows if r["lib"] == mode), None)
                theirs = next(r for r in rows if r["lib"] == peer)
                if mine is not None:
                    ratios.append(f"{mode} vs {peer} {theirs['time']['set'] / mine['time']['set']:.1f}x")
            if ratios:
                lines.append("")
                lines.append("Set of 4 in the matching mode (peer / segbench): " + ", ".join(ratios) + ".")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "LIB"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the 128^3 and 2D cases only")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated case names (default: all)")
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--write", type=Path, default=None, help="RESULTS.md to update")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.repeats)))
        return
    results = []
    for case in args.cases.split(","):
        if args.quick and "256" in case:
            continue
        for lib in args.libs.split(","):
            if lib.startswith("segbench"):
                repeats = max(args.repeats, 7)  # cheap: more repeats steady the minimum on a shared machine
            else:
                repeats = 1 if "256" in case and lib in ("monai", "medpy", "seg-metrics") else args.repeats
            out = subprocess.run(
                [sys.executable, __file__, "--worker", case, lib, "--repeats", str(repeats)],
                capture_output=True, text=True, check=True,
            )
            results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(case, lib, {k: round(v, 4) for k, v in results[-1]["time"].items()}, flush=True)
    import platform

    import torch

    header = (
        f"Measured by `benchmarks/bench_distance.py` on {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads, Python {platform.python_version()}; best of {args.repeats} runs after "
        f"a first call ({max(args.repeats, 7)} for segbench; 1 for MONAI, MedPy and seg-metrics at 256^3). Values "
        "in the matching mode agree to 1e-6 (tests in "
        "tests/metrics/test_distance_peers.py); seg-metrics uses other surfaces (ITK contours) and MedPy/seg-metrics "
        "have no NSD.\n"
    )
    body = header + "\n" + table(results)
    print(body)
    if args.write:
        write_section(args.write, SECTION, body)


if __name__ == "__main__":
    main()
