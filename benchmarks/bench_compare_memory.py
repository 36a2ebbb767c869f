"""Peak memory of a 3D ``segbench compare`` against the dataset's size (issue #21): per-case reading vs stacking.

Data: ``volumes:PATH`` folders of N cases (``--cases``, e.g. 8 16 32 64), each an ``.npy`` image (float32) and
label map (uint8) of 64 x 128 x 128 voxels (4 MiB + 1 MiB on disk; 12 MiB in memory as float32 image + int64
labels), with a ``split.json`` that keeps 2 validation cases and, ``--grow train`` (default), 2 test cases and
trains on the rest, so only the training split grows with N; ``--grow test``: 4 training cases, the rest test, so
the test phase (prediction, probabilities, scoring, trivial predictors) grows with N. Each run is one ``compare``
(prepare, 1 epoch of patch training of a width-2 depth-2 3D U-Net on 16 x 32 x 32 patches, sliding-window
validation and test, Dice and HD95) in a fresh process, one thread.

Modes: ``per-case`` (what ``compare`` does: every split a :class:`segbench.compare.volumetric.CaseArray` view, a
few cases held; the test phase predicts and scores one case at a time) and ``stacked`` (``lazy_split`` replaced
by stacking every case into one tensor); with ``--before SRC`` also ``before``: ``per-case`` run by an earlier
segbench source tree (``SRC/src``, e.g. ``git archive <commit>`` unpacked), to measure what a change saved. Peak
memory is the process's maximum resident set size (imports and the torch baseline included).

Usage: ``python benchmarks/bench_compare_memory.py [--cases 8 16 32 64] [--grow train test] [--before SRC]
[--write benchmarks/RESULTS-volumes.md]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _results import write_section  # benchmarks/_results.py (scripts run from this folder)

SHAPE = (64, 128, 128)
SECTION = "## compare on volumes: peak memory against dataset size (issue #21)"
MODES = ("per-case", "stacked")

CHILD = """
import json, resource, sys, time
import torch
from segbench.compare import config, runner, volumetric
from segbench.compare.train import SplitData
mode, root, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "stacked":
    def stacked(dataset, keep=4):
        items = [dataset[i] for i in range(len(dataset))]
        return SplitData(torch.stack([x for x, _ in items]), torch.stack([y for _, y in items]))
    volumetric.lazy_split = stacked
cfg = config.resolve({
    "dataset": {"spec": "volumes:" + root, "image_size": "native", "options": {"spacing": [2.5, 0.8, 0.8]}},
    "model": {"width": 2, "depth": 2},
    "train": {"epochs": 1, "batch_size": 4, "seeds": 1, "num_threads": 1, "device": "cpu",
              "patch_size": [16, 32, 32]},
    "losses": {"specs": ["dice"]},
    "eval": {"metrics": ["dice", "hd95"], "window_overlap": 0.0},
})
start = time.perf_counter()
runner.run_compare(runner.prepare(cfg), runner.Path(out), quiet=True)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def make_cases(root: Path, n: int, grow: str = "train") -> float:
    """``n`` cases under ``root`` (images/, labels/, split.json; the extra cases go to the ``grow`` split); returns
    their size on disk in MiB."""
    (root / "images").mkdir(parents=True), (root / "labels").mkdir()
    rng = np.random.default_rng(0)
    z, y, x = np.ogrid[: SHAPE[0], : SHAPE[1], : SHAPE[2]]
    for k in range(n):
        c = rng.uniform(0.3, 0.7, 3) * SHAPE
        labels = (((z - c[0]) / 6) ** 2 + ((y - c[1]) / 15) ** 2 + ((x - c[2]) / 15) ** 2 <= 1).astype(np.uint8)
        image = (0.2 + 0.6 * labels + rng.normal(0, 0.1, SHAPE)).astype(np.float32)
        np.save(root / "images" / f"case{k:03d}.npy", image)
        np.save(root / "labels" / f"case{k:03d}.npy", labels)
    names = [f"case{k:03d}" for k in range(n)]
    fixed, rest = (names[2:4], names[4:]) if grow == "train" else (names[2:6], names[6:])
    split = {"val": names[:2], "test": fixed, "train": rest} if grow == "train" else {
        "val": names[:2], "train": fixed, "test": rest}
    (root / "split.json").write_text(json.dumps(split))
    return sum(p.stat().st_size for p in root.rglob("*.npy")) / 2**20


def run(mode: str, root: Path, out: Path, before: Path | None = None) -> dict[str, float]:
    source = (before if mode == "before" and before is not None else Path(__file__).resolve().parents[1]) / "src"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(source)}
    child = "per-case" if mode == "before" else mode
    proc = subprocess.run([sys.executable, "-c", CHILD, child, str(root), str(out)], env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} on {root} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--grow", nargs="+", choices=("train", "test"), default=["train"],
                        help="the split that takes the extra cases (one table row group each)")
    parser.add_argument("--before", type=Path, metavar="SRC", help="an earlier segbench source tree: adds `before`")
    parser.add_argument("--write", type=Path, help="write the table into this Markdown file")
    args = parser.parse_args()
    modes = (*MODES, "before") if args.before is not None else MODES
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for grow in args.grow:
            for n in args.cases:
                root = Path(tmp) / f"{grow}-n{n}"
                disk = make_cases(root, n, grow)
                memory = n * int(np.prod(SHAPE)) * (4 + 8) / 2**20
                sizes = (n - 4, 2) if grow == "train" else (4, n - 6)
                for mode in modes:
                    r = run(mode, root, Path(tmp) / f"out-{grow}-{mode}-{n}", args.before)
                    rows.append((n, sizes, disk, memory, mode, r["seconds"], r["peak_mib"]))
                    print(f"{n:3d} cases ({sizes[0]} train, {sizes[1]} test; {disk:7.1f} MiB on disk, {memory:7.1f} "
                          f"MiB in memory)  {mode:8s}  {r['seconds']:7.1f} s  peak {r['peak_mib']:7.1f} MiB",
                          flush=True)
    load = os.getloadavg()[0]
    lines = [
        f"Measured by `benchmarks/bench_compare_memory.py --cases {' '.join(map(str, args.cases))} --grow "
        f"{' '.join(args.grow)}{' --before SRC' if args.before else ''}` on {platform.machine()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPU cores (shared with other work: load average {load:.1f} "
        "at the end, so times are measured under load), one thread. Cases of "
        f"{SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} voxels, 2 of them validation. Peak: the process's maximum resident set "
        "size (about 0.6 GiB of it is the interpreter, torch and the tiny run itself). per-case: what `compare` "
        "does; stacked: every split as one tensor; before: per-case as segbench did before the test phase was "
        "streamed (the test split, its predictions and probabilities held whole).",
        "",
        "| cases | train / test | on disk (MiB) | all cases as tensors (MiB) | mode | time (s) | peak (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [f"| {n} | {tr} / {te} | {disk:.0f} | {memory:.0f} | {mode} | {sec:.1f} | {peak:.0f} |"
              for n, (tr, te), disk, memory, mode, sec, peak in rows]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(args.write, SECTION, text)


if __name__ == "__main__":
    main()
