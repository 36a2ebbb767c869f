"""Many runs at once (issue #26): ``segbench compare`` with ``--jobs 1``, ``--jobs 2`` and ``--engine ray --jobs 2``.

Workload: the bundled default ``compare`` (no config: four losses x three seeds = 12 trainings on ``sample``, each
to its plateau or 800 steps, one CPU thread per run), each contender a fresh command (``python -m segbench compare
--out DIR -q --no-report ...``), rounds interleaved. The table gives the best and median wall time of the command
(interpreter start, imports, data loading, the trivial predictors, the aggregates and, for Ray, starting and
stopping a local Ray included) and of the run itself (``timing.json``), the parallel efficiency ``T(jobs 1) / (2 x
T(jobs 2))`` (the goal: >= 0.8 where there are at least as many runs as cores), and the Ray engine's overhead per
run, ``(T(ray, jobs 2) - T(jobs 2) - T(ray start + stop)) / runs`` (the goal: under 1 s), with the time a local Ray
takes to start and stop measured alone. The scores of every contender are checked byte-identical to ``--jobs 1``.

    python benchmarks/bench_jobs.py [--rounds 2] [--quick] [--no-write]

``--quick``: a tiny synthetic study (4 runs of 3 epochs), to check the script. Writes the section
"## Many runs at once (issue #26)" of benchmarks/RESULTS.md (other sections are kept). Run it on a quiet machine:
other processes on the same cores turn the efficiency into a measure of the load.
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

import torch
from _results import write_section  # benchmarks/_results.py (scripts run from this folder)

SECTION = "## Many runs at once (issue #26)"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SRC = Path(__file__).resolve().parents[1] / "src"
QUICK = """
[dataset]
spec = "synthetic"
image_size = 16
options = { num_images = 12, foreground_fraction = 0.2 }
[model]
width = 2
depth = 2
[train]
epochs = 3
batch_size = 4
seeds = 2
device = "cpu"
[losses]
specs = ["ce", "dice"]
[eval]
metrics = ["pixel_accuracy", "dice"]
"""
CONTENDERS = [("--jobs 1", ["--jobs", "1"]), ("--jobs 2", ["--jobs", "2"]),
              ("--engine ray --jobs 2 (local Ray, 2 CPUs)", ["--engine", "ray", "--jobs", "2"])]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}


def _timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def _scores(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("runs/*/seed*/*.csv"))
            if p.name in ("scores.csv", "pooled.csv")}


def _stats(values: list[float]) -> str:
    return f"{min(values):.1f} | {statistics.median(values):.1f}"


def main() -> None:
    """Run the rounds, print the table and write it into RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="a tiny synthetic study, to check the script")
    parser.add_argument("--note", default="", help="a paragraph added under the table")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_jobs_"))
    config: list[str] = []
    if args.quick:
        (work / "quick.toml").write_text(QUICK)
        config = ["quick.toml"]
    wall: dict[str, list[float]] = {}
    inner: dict[str, list[float]] = {}
    session: list[float] = []
    runs = 0
    try:
        for r in range(args.rounds):
            reference: dict[str, bytes] = {}
            for label, flags in CONTENDERS:
                out = work / f"run{r}"
                wall.setdefault(label, []).append(_timed(
                    [sys.executable, "-m", "segbench", "compare", *config, "--out", out.name, "-q", "--no-report",
                     *flags], work))
                inner.setdefault(label, []).append(json.loads((out / "timing.json").read_text())[
                    "seconds_this_invocation"])
                scores = _scores(out)
                runs = len(scores) // 2
                if reference and scores != reference:
                    raise RuntimeError(f"{label}: scores differ from --jobs 1")
                reference = reference or scores
                shutil.rmtree(out)
                print(f"round {r} {label}: {wall[label][-1]:.1f} s", flush=True)
            session.append(_timed([sys.executable, "-c", "import time, ray; ray.init(num_cpus=2, "
                                   "include_dashboard=False, log_to_driver=False); ray.shutdown()"], work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    one, two, ray = (min(wall[label]) for label, _ in CONTENDERS)
    one_in, two_in = min(inner[CONTENDERS[0][0]]), min(inner[CONTENDERS[1][0]])
    rows = [f"| {label} | {_stats(wall[label])} | {_stats(inner[label])} |" for label, _ in CONTENDERS]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    workload = ("a tiny synthetic study (2 losses x 2 seeds, 3 epochs; `--quick`)" if args.quick else
                "the bundled default compare (4 losses x 3 seeds on `sample`, to a plateau, 1 thread per run)")
    body = "\n".join([
        f"`python benchmarks/bench_jobs.py --rounds {args.rounds}{' --quick' if args.quick else ''}` "
        f"({time.strftime('%Y-%m-%d')}; torch {torch.__version__}, {platform.machine()}, {os.cpu_count()} CPU "
        f"cores, load average {load:.1f} at the end). Workload: {workload}, {runs} trainings; scores of every "
        "contender byte-identical to `--jobs 1` (checked). Best | median of the interleaved rounds; wall = the "
        "whole command, run = its `timing.json` (training, scoring, aggregates; no interpreter start or data "
        "loading in the driver).",
        "",
        "| contender | wall s best | wall s median | run s best | run s median |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Parallel efficiency of `--jobs 2`: {one / (2 * two):.2f} on the wall time, {one_in / (2 * two_in):.2f} "
        f"on the run time. A local Ray starts and stops in {min(session):.1f} s (alone); the Ray engine's overhead "
        f"beyond that, per run: {(ray - two - min(session)) / max(runs, 1):.2f} s "
        f"(all of it, start and stop included: {(ray - two) / max(runs, 1):.2f} s per run).",
        "",
        *([args.note, ""] if args.note else []),
    ])
    print(f"{SECTION}\n\n{body}")
    if not args.no_write:
        write_section(RESULTS, SECTION, body)


if __name__ == "__main__":
    main()
