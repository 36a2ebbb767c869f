"""``segbench evaluate`` on a folder of NIfTI volumes against a plain MONAI script and seg-metrics (issue #21).

Data: ``--cases`` synthetic volumes of 128 x 128 x 64 voxels (x, y, z), 0.8 x 0.8 x 2.5 mm, 3 classes (background,
a large ellipsoid "organ", a small sphere "lesion" next to it), written as ``.nii.gz`` with their affine; each
prediction is its reference shifted by 0 to 2 voxels per axis, with the ellipsoid's radii changed a little and
the lesion missed in one case in ten. Every tool reads the same files and computes, per case and foreground class,
Dice, HD95, ASSD and NSD (tolerance 1 mm):

* segbench: ``segbench evaluate --pred P --truth T --metrics dice,hd95,assd,nsd --out scores.csv`` (the command
  itself, through ``segbench.cli.main``), ``--jobs 1`` and ``--jobs 2``, every class, and with ``--no-background``
  (classes 1 and 2 alone, as the peers score them: the like-for-like rows);
* MONAI: the script a user writes: nibabel load, one-hot tensors, ``DiceMetric``, ``HausdorffDistanceMetric
  (percentile=95)``, ``SurfaceDistanceMetric(symmetric=True)``, ``SurfaceDiceMetric(class_thresholds=[1, 1])``,
  each with ``spacing`` from the header;
* seg-metrics: ``write_metrics(labels=[1, 2], gdth_path=T, pred_path=P, metrics=["dice", "hd95", "msd"])``
  (it has no NSD; ``msd`` is its mean symmetric surface distance).

Each tool runs in a fresh process (one compute thread); time is the tool's call, imports excluded; peak memory
is the process's maximum resident set size (imports included, so the baseline of each library is in it). The means
over cases of every metric are printed side by side as a check that the tools computed the same thing.

Usage: ``python benchmarks/bench_evaluate_volumes.py [--cases 50] [--write benchmarks/RESULTS-volumes.md]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import write_section  # benchmarks/_results.py (scripts run from this folder)

SHAPE = (128, 128, 64)
ZOOMS = (0.8, 0.8, 2.5)
TOOLS = ("segbench --jobs 1", "segbench --jobs 2", "segbench --no-background --jobs 1",
         "segbench --no-background --jobs 2", "monai", "seg-metrics")


def _missed(name: str) -> bool:
    """Whether the case's prediction misses the lesion (left out of the means: its distances are undefined)."""
    return int(Path(name).name[5:8]) % 10 == 3
SECTION = "## evaluate on 3D NIfTI volumes (issue #21)"


def _ellipsoid(centre: tuple[float, ...], radii_mm: tuple[float, ...]) -> np.ndarray:
    grid = np.meshgrid(*(np.arange(n) * z for n, z in zip(SHAPE, ZOOMS, strict=True)), indexing="ij", sparse=True)
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grid, centre, radii_mm, strict=True)) <= 1.0  # type: ignore[no-any-return]


def make_cases(folder: Path, n: int, seed: int = 0) -> None:
    """``folder/truth`` and ``folder/pred``: ``n`` case pairs ``case_XXX.nii.gz`` (see the module docstring)."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    affine = np.diag([*ZOOMS, 1.0])
    (folder / "truth").mkdir(parents=True), (folder / "pred").mkdir(parents=True)
    for i in range(n):
        centre = tuple(float(v) for v in rng.uniform(0.4, 0.6, 3) * np.array(SHAPE) * np.array(ZOOMS))
        radii = tuple(float(v) for v in rng.uniform(18.0, 30.0, 3))
        lesion_centre = (centre[0] + radii[0] + 6.0, centre[1], centre[2])
        lesion_r = float(rng.uniform(3.0, 6.0))
        truth = np.zeros(SHAPE, np.uint8)
        truth[_ellipsoid(centre, radii)] = 1
        truth[_ellipsoid(lesion_centre, (lesion_r,) * 3)] = 2
        pred = np.zeros(SHAPE, np.uint8)
        scale = rng.uniform(0.92, 1.08, 3)
        pred[_ellipsoid(centre, tuple(r * s for r, s in zip(radii, scale, strict=True)))] = 1
        if i % 10 != 3:
            pred[_ellipsoid(lesion_centre, (lesion_r * float(rng.uniform(0.8, 1.2)),) * 3)] = 2
        pred = np.roll(pred, tuple(int(s) for s in rng.integers(0, 3, 3)), axis=(0, 1, 2))
        for name, array in (("truth", truth), ("pred", pred)):
            nib.save(nib.Nifti1Image(array, affine), folder / name / f"case_{i:03d}.nii.gz")


def _segbench(pred: Path, truth: Path, out: Path, jobs: int, background: bool) -> dict[str, dict[str, float]]:
    import csv

    from segbench import cli

    code = cli.main(["evaluate", "--pred", str(pred), "--truth", str(truth), "--metrics", "dice,hd95,assd,nsd",
                     "--nsd-tolerance", "1.0", "--jobs", str(jobs), "--no-progress", "--out", str(out),
                     *([] if background else ["--no-background"])])
    assert code == 0
    with open(out, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["class_index"] in ("1", "2") and not _missed(r["case"])]
    return {m: {k: float(np.mean([float(r[m]) for r in rows if r["class_index"] == k and r[m] != "nan"]))
                for k in ("1", "2")} for m in ("dice", "hd95", "assd", "nsd")}


def _monai(pred: Path, truth: Path, limit: int | None) -> dict[str, dict[str, float]]:
    import nibabel as nib
    import torch
    from monai.metrics import DiceMetric, HausdorffDistanceMetric, SurfaceDiceMetric, SurfaceDistanceMetric

    metrics = {
        "dice": DiceMetric(include_background=False),
        "hd95": HausdorffDistanceMetric(include_background=False, percentile=95),
        "assd": SurfaceDistanceMetric(include_background=False, symmetric=True),
        "nsd": SurfaceDiceMetric(class_thresholds=[1.0, 1.0], include_background=False),
    }
    values: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    for path in sorted(truth.glob("*.nii.gz"))[:limit]:
        t_img, p_img = nib.load(path), nib.load(pred / path.name)
        spacing = [float(z) for z in t_img.header.get_zooms()]

        def onehot(img: Any) -> torch.Tensor:
            labels = torch.from_numpy(np.asarray(img.dataobj).astype(np.int64))
            return torch.nn.functional.one_hot(labels, 3).permute(3, 0, 1, 2)[None].float()

        y, y_pred = onehot(t_img), onehot(p_img)
        for name, metric in metrics.items():
            kw = {} if name == "dice" else {"spacing": spacing}
            got = metric(y_pred, y, **kw).numpy()[0]
            if not _missed(path.name):
                values[name].append(got)
    out = {}
    for name, rows in values.items():
        a = np.stack(rows).astype(np.float64)
        out[name] = {str(k + 1): float(np.mean(a[:, k])) for k in range(2)}
    return out


def _seg_metrics(pred: Path, truth: Path, limit: int | None) -> dict[str, dict[str, float]]:
    import seg_metrics.seg_metrics as sg

    names = sorted(truth.glob("*.nii.gz"))[:limit]
    rows = []
    for path in names:  # write_metrics over the folders, one file pair at a time so that a subset can be timed
        rows += [r for r in sg.write_metrics(labels=[1, 2], gdth_path=str(path), pred_path=str(pred / path.name),
                                             metrics=["dice", "hd95", "msd"], verbose=False) if not _missed(path.name)]
    out: dict[str, dict[str, float]] = {}
    for ours, theirs in (("dice", "dice"), ("hd95", "hd95"), ("assd", "msd")):
        out[ours] = {}
        for k in (0, 1):
            vals = [r[theirs][k] for r in rows]
            out[ours][str(k + 1)] = float(np.mean(vals))
    return out


def _child(tool: str, pred: Path, truth: Path, work: Path, limit: int | None) -> None:
    import resource

    import torch

    torch.set_num_threads(1)
    if tool.startswith("segbench"):
        import segbench.cli

        segbench.cli.build_parser()  # imports every command's modules outside the timed call, as for the peers

        jobs = int(tool.rsplit(" ", 1)[1])
        t0 = time.perf_counter()
        background = "--no-background" not in tool
        means = _segbench(pred, truth, work / f"scores-{jobs}-{background}.csv", jobs, background)
    elif tool == "monai":
        import monai.metrics  # noqa: F401
        import nibabel  # noqa: F401

        t0 = time.perf_counter()
        means = _monai(pred, truth, limit)
    else:
        import seg_metrics.seg_metrics  # noqa: F401

        t0 = time.perf_counter()
        means = _seg_metrics(pred, truth, limit)
    seconds = time.perf_counter() - t0
    usage = (resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    peak = max(usage)  # KiB; with --jobs 2, the largest worker's
    cases = len(sorted(truth.glob("*.nii.gz"))[:limit])
    print(json.dumps({"seconds": seconds, "cases": cases, "peak_mib": peak / 1024.0, "means": means}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--seg-metrics-cases", type=int, default=5,
                        help="seg-metrics scores only this many of the cases (about 35 s each here); its time per "
                        "case is reported beside the others'")
    parser.add_argument("--write", type=Path)
    parser.add_argument("--child", nargs=5, metavar=("TOOL", "PRED", "TRUTH", "WORK", "LIMIT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, pred, truth, work, limit = args.child
        _child(tool, Path(pred), Path(truth), Path(work), int(limit) or None)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        make_cases(root, args.cases)
        print(f"wrote {args.cases} case pairs in {time.perf_counter() - t0:.1f} s", flush=True)
        for tool in args.tools.split(","):
            run = subprocess.run(
                [sys.executable, __file__, "--child", tool, str(root / "pred"), str(root / "truth"), str(root),
                 str(args.seg_metrics_cases if tool == "seg-metrics" else 0)],
                capture_output=True, text=True, env=env, check=False,
            )
            if run.returncode != 0:
                results[tool] = {"error": (run.stderr.strip().splitlines() or ["failed"])[-1]}
            else:
                results[tool] = json.loads(run.stdout.strip().splitlines()[-1])
            print(tool, json.dumps(results[tool]), flush=True)
    lines = [
        f"Measured by `benchmarks/bench_evaluate_volumes.py --cases {args.cases}` on {platform.machine()}, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPU cores (shared with other work), one compute "
        f"thread per process. {args.cases} case pairs of {SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} voxels, "
        f"{ZOOMS[0]} x {ZOOMS[1]} x {ZOOMS[2]} mm, 3 classes, .nii.gz; Dice, HD95, ASSD, NSD (1 mm) per case and "
        "class (seg-metrics: no NSD). Time: the tool's call (reading the files included, imports excluded); "
        "peak: the process's maximum resident set size. Means over cases (classes 1 / 2, lesion misses left out) "
        "show what each tool computed. The peers score classes 1 and 2; segbench scores every class, background "
        "included, unless `--no-background`.",
        "",
        "| tool | cases | time (s) | s per case | peak MiB | Dice 1 / 2 | HD95 mm 1 / 2 | ASSD mm 1 / 2 | NSD 1 / 2 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for tool, r in results.items():
        if "error" in r:
            lines.append(f"| {tool} | - | failed: {r['error'][:80]} | - | - | - | - | - | - |")
            continue
        cells = []
        for m in ("dice", "hd95", "assd", "nsd"):
            got = r["means"].get(m)
            cells.append("-" if got is None else f"{got['1']:.4g} / {got['2']:.4g}")
        lines.append(f"| {tool} | {r['cases']} | {r['seconds']:.4g} | {r['seconds'] / r['cases']:.3g} | "
                     f"{r['peak_mib']:.4g} | " + " | ".join(cells) + " |")
    per_case = {t: r["seconds"] / r["cases"] for t, r in results.items() if "error" not in r}
    ours = {t: v for t, v in per_case.items() if t.startswith("segbench")}
    peers = {t: v for t, v in per_case.items() if not t.startswith("segbench")}
    if ours and peers:
        best_peer, best_ours = min(peers, key=lambda t: peers[t]), min(ours, key=lambda t: ours[t])
        factor = peers[best_peer] / ours[best_ours]
        lines += ["", f"Per case, segbench ({best_ours}, {ours[best_ours]:.3g} s) is {factor:.1f}x faster than the "
                  f"faster peer ({best_peer}, {peers[best_peer]:.3g} s); goal >= 5x: "
                  f"**{'met' if factor >= 5 else 'not met'}**."]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, SECTION, text)


if __name__ == "__main__":
    main()
