"""One process against two (torchrun, gloo, CPU): ``segbench compare`` and ``segbench evaluate`` wall times.

Workloads (issue #8):

* ``compare``: synthetic data (``--num-images`` images of ``--image-size`` px, split train/val/test by the
  loader), U-Net width 8 depth 3, losses ``ce`` and ``dice``, 1 seed, ``--epochs`` epochs; one process with
  ``num_threads`` 2 and 1, and two processes with ``num_threads = 2`` (1 thread each, the same CPU budget).
* ``evaluate``: ``--cases`` 3-class PNG label maps of ``--case-size`` px (square) scored on every metric: one
  process (``--jobs 1`` and ``--jobs 2``, its own worker pool) and two torchrun processes.

Each contender runs as a fresh command (``python -m segbench ...`` against ``python -m torch.distributed.run
--standalone --nproc_per_node 2 -m segbench ...``), rounds interleaved; the table gives the best and median
wall time of the command (interpreter start, imports and rendezvous included), the compare run's own time
(``timing.json``: training, validation, test scoring, writing) and training throughput (train images x epochs
x runs / summed ``train_seconds``; the 2-process sampler pads by at most one image per epoch). CUDA: pass
``--device cuda`` for the one-process CUDA figure (NCCL needs one GPU per rank, so one GPU cannot show 2 ranks).

    python benchmarks/bench_distributed.py [--rounds 2] [--epochs 3] [--device cpu] [--no-write]

writes the section "## Distributed (issue #8)" of benchmarks/RESULTS.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _results import write_section  # benchmarks/_results.py (scripts run from this folder)
from PIL import Image

SECTION = "## Distributed (issue #8)"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SRC = Path(__file__).resolve().parents[1] / "src"

CONFIG = """
[dataset]
spec = "synthetic"
image_size = {size}
options = {{ num_images = {n}, foreground_fraction = 0.15 }}

[model]
width = 8
depth = 3

[train]
epochs = {epochs}
batch_size = 8
seeds = 1
num_threads = {threads}
device = "{device}"

[losses]
specs = ["ce", "dice"]
"""


def _command(nproc: int, args: list[str]) -> list[str]:
    if nproc == 1:
        return [sys.executable, "-m", "segbench", *args]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
            "-m", "segbench", *args]


def _run(cmd: list[str], cwd: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return seconds


def _cases(root: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    for name in ("truth", "pred"):
        (root / name).mkdir(parents=True)
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        truth = np.zeros((size, size), np.uint8)
        cy, cx = rng.integers(size // 4, 3 * size // 4, 2)
        r = rng.integers(size // 16, size // 5)
        truth[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 1
        top, left = rng.integers(0, 3 * size // 4, 2)
        truth[top : top + size // 6, left : left + size // 8] = 2
        pred = np.roll(truth, rng.integers(-4, 5), axis=int(rng.integers(0, 2)))
        pred[rng.random(pred.shape) < 0.002] = 1
        Image.fromarray(truth).save(root / "truth" / f"case{i:03d}.png")
        Image.fromarray(pred).save(root / "pred" / f"case{i:03d}.png")


def _stats(values: list[float]) -> str:
    return f"{min(values):.1f} | {statistics.median(values):.1f}"


def main() -> None:
    """Run the rounds, print the table and write it into RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--num-images", type=int, default=64)
    parser.add_argument("--cases", type=int, default=64)
    parser.add_argument("--case-size", type=int, default=512)
    parser.add_argument("--note", default="", help="a paragraph added under the table")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    # (label, processes, num_threads of the config / --jobs of evaluate)
    compare = [("1 process, 2 threads", 1, 2), ("1 process, 1 thread", 1, 1),
               ("2 processes (torchrun, gloo), 1 thread each", 2, 2)]
    evaluate = [("1 process, --jobs 1", 1, 1), ("1 process, --jobs 2", 1, 2), ("2 processes (torchrun, gloo)", 2, 1)]
    if args.device == "cuda":
        compare, evaluate = compare[:1], evaluate[:1]
    work = Path(tempfile.mkdtemp(prefix="bench_dist_"))
    wall: dict[str, list[float]] = {}
    inner: dict[str, list[float]] = {}
    throughput: dict[str, list[float]] = {}
    try:
        for _, _, threads in compare:
            (work / f"bench{threads}.toml").write_text(CONFIG.format(
                size=args.image_size, n=args.num_images, epochs=args.epochs, device=args.device, threads=threads))
        _cases(work / "eval", args.cases, args.case_size)
        for r in range(args.rounds):
            for label, nproc, threads in compare:
                out = work / f"run{nproc}_{threads}_{r}"
                wall.setdefault(label, []).append(_run(_command(nproc, [
                    "compare", f"bench{threads}.toml", "--out", out.name, "-q", "--no-report"]), work))
                inner.setdefault(label, []).append(json.loads((out / "timing.json").read_text())[
                    "seconds_this_invocation"])
                dataset = json.loads((out / "dataset.json").read_text())
                done = [json.loads(p.read_text()) for p in out.glob("runs/*/seed*/done.json")]
                images = dataset["split_sizes"]["train"] * args.epochs * len(done)
                throughput.setdefault(label, []).append(images / sum(d["train_seconds"] for d in done))
                shutil.rmtree(out)
                print(f"round {r} compare {label}: {wall[label][-1]:.1f} s", flush=True)
            for label, nproc, jobs in evaluate:
                wall.setdefault(label, []).append(_run(_command(nproc, [
                    "evaluate", "--pred", "eval/pred", "--truth", "eval/truth", "--out", f"eval{nproc}.csv",
                    "--jobs", str(jobs), "--no-progress"]), work))
                print(f"round {r} evaluate {label}: {wall[label][-1]:.1f} s", flush=True)
        if args.device == "cpu" and (work / "eval1.csv").read_text() != (work / "eval2.csv").read_text():
            raise RuntimeError("evaluate: the 2-process CSV differs from the 1-process CSV")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = [f"| compare | {label} | {_stats(wall[label])} | {_stats(inner[label])} | {max(throughput[label]):.0f} |"
            for label, _, _ in compare]
    rows += [f"| evaluate | {label} | {_stats(wall[label])} | - | - | - |" for label, _, _ in evaluate]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body = "\n".join([
        f"`python benchmarks/bench_distributed.py --rounds {args.rounds} --epochs {args.epochs} --device "
        f"{args.device}` ({time.strftime('%Y-%m-%d')}; torch {torch.__version__}, {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, load average {load:.1f} at the end).",
        f"compare: synthetic {args.num_images} images of {args.image_size} px, U-Net width 8 depth 3, losses ce and "
        f"dice, 1 seed, {args.epochs} epochs, batch 8 (global; 4 per rank). evaluate: "
        f"{args.cases} 3-class PNG cases of {args.case_size} px, every metric (the 2-process CSV is checked equal to "
        f"the 1-process CSV). Best | median of {args.rounds} interleaved rounds; wall = the whole command, run = "
        "the compare run's own `timing.json` (no interpreter start, imports, data loading or rendezvous).",
        "",
        "| command | contender | wall s best | wall s median | run s best | run s median | train images/s (best) |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        *([args.note, ""] if args.note else []),
    ])
    print(f"{SECTION}\n\n{body}")
    if not args.no_write:
        write_section(RESULTS, SECTION, body)


if __name__ == "__main__":
    main()
