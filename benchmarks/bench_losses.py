"""Forward + backward time and peak memory of every segbench loss, side by side with MONAI, kornia and PyTorch.

Peak memory: each (case, implementation) runs once in a fresh subprocess; the growth of the process's peak resident
set (``ru_maxrss``) over its resident set just before the first forward + backward is the extra memory the loss
needs beyond its inputs. Times: every implementation of a case is timed in one process, round-robin in a new
random order each round (what runs just before a call changes its allocator state), median of several forward +
backward calls after a warm-up, so a busy machine slows all rows alike. ``F.cross_entropy`` is
the floor.

Between processes, though, the same code's median moves by up to ~15% (where the allocator places a row's tensors
decides its page faults and cache misses), more than the spread of rounds within one process. So the fast rows run in
``--procs`` separate processes, and a ratio's interval is taken over the processes' own paired medians, not over
rounds; a second instance of segbench's Dice loss is timed as a row of its own, to show what the method resolves.

    python benchmarks/bench_losses.py                      # full sizes, prints a Markdown table
    python benchmarks/bench_losses.py --quick              # small sizes, a smoke run
    python benchmarks/bench_losses.py --write benchmarks/RESULTS.md   # replace the "## Losses (issue #3)" section
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _results import write_section  # benchmarks/_results.py (scripts run from this folder)

CASES = {
    "multiclass 2D (8, 3, 256, 256)": (8, 3, (256, 256)),
    "binary 2D (8, 1, 256, 256)": (8, 1, (256, 256)),
    "multiclass 3D (2, 4, 64, 128, 128)": (2, 4, (64, 128, 128)),
    "many classes 2D (4, 21, 256, 256)": (4, 21, (256, 256)),  # Pascal VOC's 21: where a one-hot target costs most
}
QUICK = {
    "multiclass 2D (2, 3, 32, 32)": (2, 3, (32, 32)),
    "binary 2D (2, 1, 32, 32)": (2, 1, (32, 32)),
    "multiclass 3D (1, 4, 8, 16, 16)": (1, 4, (8, 16, 16)),
    "many classes 2D (1, 21, 32, 32)": (1, 21, (32, 32)),
}
SECTION = "## Losses (issue #3)"
# Losses that take 10-1000x a cross-entropy: timed in their own round-robin. The fast rows (a few ms each, where a
# median of few calls is noisy) get FAST_REPS times as many calls.
SLOW = ("lovasz", "hausdorff_dt", "boundary", "cldice")
FAST_REPS = 6

# (row label, peer) -> source of a callable `loss(x, t)`; x logits (N, C, *spatial), t labels (N, *spatial).
# `C1` is True for one-channel (binary sigmoid) input.
SEGBENCH = [
    "ce", "bce", "focal", "dice", "jaccard", "tversky", "focal_tversky", "generalized_dice", "log_cosh_dice",
    "pixel_dice", "pixel_jaccard", "lovasz", "hausdorff_dt", "boundary", "cldice",
]
PEERS: dict[str, list[tuple[str, str]]] = {
    "ce": [("torch F.cross_entropy (floor)",
            "lambda x, t: F.binary_cross_entropy_with_logits(x[:, 0], t.float()) if C1 else F.cross_entropy(x, t)")],
    "bce": [("torch F.binary_cross_entropy_with_logits",
             "lambda x, t: F.binary_cross_entropy_with_logits(x, F.one_hot(t, max(x.shape[1], 2)).movedim(-1, 1)"
             "[:, -x.shape[1]:].float())")],
    "focal": [
        ("MONAI FocalLoss",
         "(lambda m: lambda x, t: m(x, t[:, None].float()))(monai.losses.FocalLoss(gamma=2.0)) if C1 else "
         "(lambda m: lambda x, t: m(x, t[:, None]))(monai.losses.FocalLoss(gamma=2.0, use_softmax=True, "
         "to_onehot_y=True))"),
        ("kornia focal_loss",
         "(lambda x, t: kornia.losses.binary_focal_loss_with_logits(x, t[:, None].float(), alpha=None, "
         "reduction='mean')) if C1 else (lambda x, t: kornia.losses.focal_loss(x, t, alpha=None, reduction='mean'))"),
    ],
    "dice": [
        ("MONAI DiceLoss", "monai_region(monai.losses.DiceLoss)"),
        ("kornia dice_loss (macro)", "None if C1 or x.ndim != 4 else (lambda x, t: kornia.losses.dice_loss(x, t, "
         "average='macro'))"),
    ],
    "jaccard": [("MONAI DiceLoss(jaccard=True)", "monai_region(monai.losses.DiceLoss, jaccard=True)")],
    "tversky": [
        ("MONAI TverskyLoss", "monai_region(monai.losses.TverskyLoss, alpha=0.3, beta=0.7)"),
        ("kornia tversky_loss", "None if C1 or x.ndim != 4 else (lambda x, t: kornia.losses.tversky_loss(x, t, "
         "0.3, 0.7))"),
    ],
    "generalized_dice": [("MONAI GeneralizedDiceLoss", "monai_region(monai.losses.GeneralizedDiceLoss)")],
    "lovasz": [
        ("kornia lovasz_*_loss", "None if x.ndim != 4 else ((lambda x, t: kornia.losses.lovasz_hinge_loss(x, t)) "
         "if C1 else (lambda x, t: kornia.losses.lovasz_softmax_loss(x, t)))"),
    ],
    "hausdorff_dt": [("MONAI HausdorffDTLoss", "monai_region(monai.losses.HausdorffDTLoss, include_background=True)")],
    "boundary": [("MONAI BoundaryLoss", "monai_region(monai.losses.BoundaryLoss)")],
    "cldice": [("MONAI SoftclDiceLoss", "monai_region(monai.losses.SoftclDiceLoss)")],
}

CHILD = r"""
import json, random, resource, statistics, sys, time
import torch, torch.nn.functional as F
spec = json.loads(sys.argv[1])
torch.manual_seed(0)
n, c, spatial = spec["n"], spec["c"], tuple(spec["spatial"])
x0 = torch.randn(n, c, *spatial)
t = torch.randint(0, max(c, 2), (n, *spatial))
C1 = c == 1
x = x0
def monai_region(cls, **kw):
    import monai.losses  # noqa
    if C1:
        m = cls(sigmoid=True, **kw)
        return lambda x, t: m(x, t[:, None].float())
    m = cls(softmax=True, to_onehot_y=True, **kw)
    return lambda x, t: m(x, t[:, None])
def build(row):
    if row["impl"] == "segbench":
        from segbench import losses
        return losses.get(row["loss"])
    import kornia.losses
    import monai.losses
    return eval(row["peer"], {**globals(), "monai": monai, "kornia": kornia})
def step(fn):
    xi = x0.detach().requires_grad_(True)
    loss = fn(xi, t)
    loss.backward()
    return float(loss)
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
if spec["mode"] == "memory":  # one row, fresh process: growth of peak RSS during the first call
    fn = build(spec["rows"][0])
    if fn is None:
        print(json.dumps([None])); sys.exit(0)
    base = rss()
    value = step(fn)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    print(json.dumps([{"peak_mib": max(peak, 0) / 2**20, "value": value}]))
    sys.exit(0)
fns = [build(r) for r in spec["rows"]]  # timing: all rows of a case, interleaved round-robin
times = [[] for _ in fns]
for fn in fns:
    if fn is not None:
        step(fn)  # warm-up
order = list(range(len(fns)))
for r in range(spec["reps"]):
    random.Random(spec["seed"] * 100_003 + r).shuffle(order)  # a new order each round and process
    for k in order:
        fn = fns[k]
        if fn is None:
            continue
        t0 = time.perf_counter(); step(fn); times[k].append(time.perf_counter() - t0)
out = [None if fn is None else {"ms": 1000 * statistics.median(v), "rounds": v} for fn, v in zip(fns, times)]
print(json.dumps(out))
"""


def run_child(spec: dict) -> list[dict | None]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, timeout=3000, check=False
    )
    if out.returncode != 0:
        msg = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"rc {out.returncode}"
        return [{"error": msg}] * len(spec["rows"])
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_interval(n: int) -> tuple[int, float]:
    """Index ``k`` such that ``[v[k], v[n-1-k]]`` of ``n`` sorted values is a distribution-free interval for their
    median with coverage >= 93% (binomial order statistics; n = 5 gives the range, 93.75%), and that coverage."""
    from scipy.stats import binom

    k = max(int(binom.ppf(0.03, n, 0.5)) - 1, 0)
    return k, 1 - 2 * float(binom.cdf(k, n, 0.5))


def paired_ratio(ours: list[list[float]], theirs: list[list[float]]) -> str:
    """ours / theirs, both timed once in every round of every process: each process's median over its rounds, then
    the median of those with an interval over processes (:func:`median_interval`). With one process (the slow rows),
    the median and interval are over rounds, which understates the spread between processes."""
    per_round = [[a / b for a, b in zip(o, t, strict=True)] for o, t in zip(ours, theirs, strict=True)]
    meds = sorted(statistics.median(r) for r in per_round) if len(per_round) > 1 else sorted(per_round[0])
    med = statistics.median(meds)
    if len(meds) < (5 if len(per_round) > 1 else 9):  # fewer rounds than that: a range of single calls, too wide
        return f"{med:.2f}"
    k, _ = median_interval(len(meds))
    return f"{med:.2f} [{meds[k]:.2f}, {meds[-1 - k]:.2f}]"


def run_timing(shape: dict, reps: int, rows: list[dict], procs: int) -> list[dict | None]:
    """Time ``rows`` interleaved in ``procs`` processes: each row's ``ms`` is the median over every round, its
    ``rounds`` one list per process."""
    runs = [run_child({**shape, "mode": "time", "reps": reps, "rows": rows, "seed": k}) for k in range(procs)]
    out: list[dict | None] = []
    for per_proc in zip(*runs, strict=True):
        if any(r is None for r in per_proc):
            out.append(None)
        elif any("error" in r for r in per_proc):
            out.append(next(r for r in per_proc if "error" in r))
        else:
            rounds = [r["rounds"] for r in per_proc]
            out.append({"ms": 1000 * statistics.median(v for rr in rounds for v in rr), "rounds": rounds})
    return out


def fast_rounds(reps: int, procs: int) -> int:
    """Rounds per process for the fast rows: twice ``FAST_REPS * reps`` in all, at least 10 in each process."""
    return max(10, 2 * FAST_REPS * reps // procs)


AGAIN = "segbench, second instance"  # the calibration row: the same loss as "segbench", timed as a row of its own
OURS = ("segbench", AGAIN)


def bench(
    cases: dict[str, tuple[int, int, tuple[int, ...]]], reps: int, only: list[str] | None, case_filter: str | None,
    procs: int,
) -> str:
    lines = []
    for case, (n, c, spatial) in cases.items():
        if case_filter and case_filter not in case:
            continue
        lines += [f"### {case}", ""]
        lines += ["| loss | implementation | fwd+bwd ms | x CE | / fastest peer | peak extra MiB | value |"]
        lines += ["|---|---|---|---|---|---|---|"]
        heavy = len(spatial) == 3
        shape = {"n": n, "c": c, "spatial": list(spatial)}
        rows: list[tuple[str, str, dict]] = []
        for name in SEGBENCH:
            if only and name not in only and name != "ce":
                continue
            rows.append((name, "segbench", {"impl": "segbench", "loss": name}))
            if name == "dice":
                rows.append((name, AGAIN, {"impl": "segbench", "loss": name, "again": True}))
            rows += [(name, label, {"impl": "peer", "peer": src}) for label, src in PEERS.get(name, [])]
        slow = [r for r in rows if r[0] in SLOW]
        fast = [r for r in rows if r not in slow]
        timing: dict[int, dict | None] = {}
        groups = ((fast, fast_rounds(reps, procs), procs), (slow, max(1, reps // 3) if heavy else reps, 1))
        for group, k, p in groups:
            if group:
                res = run_timing(shape, k, [r[2] for r in group], p)
                timing.update({rows.index(r): v for r, v in zip(group, res, strict=True)})
        floor = next((timing.get(i) for i, r in enumerate(rows) if r[1].startswith("torch F.cross_entropy")), None)
        for i, (name, label, row) in enumerate(rows):
            mem = run_child({**shape, "mode": "memory", "rows": [row]})[0]
            tm = timing.get(i)
            if mem is None or tm is None:
                continue
            if "error" in mem or "error" in tm:
                lines.append(f"| {name} | {label} | error: {(mem.get('error') or tm.get('error'))[:80]} | | | | |")
            else:
                ratio = f"{tm['ms'] / floor['ms']:.2f}" if floor and "ms" in floor else ""
                vs = ""
                if label == "segbench" and name != "ce":  # against the peer with the lowest median, same rounds
                    peers = [timing.get(j) for j, r in enumerate(rows) if r[0] == name and r[1] not in OURS]
                    peers = [p for p in peers if p and "ms" in p]
                    if peers:
                        vs = paired_ratio(tm["rounds"], min(peers, key=lambda p: p["ms"])["rounds"])
                elif label == AGAIN:  # against the first instance: what the method resolves
                    first = next(timing.get(j) for j, r in enumerate(rows) if r[0] == name and r[1] == "segbench")
                    if first and "rounds" in first:
                        vs = f"{paired_ratio(tm['rounds'], first['rounds'])} (/ segbench)"
                lines.append(
                    f"| {name} | {label} | {tm['ms']:.1f} | {ratio} | {vs} | {mem['peak_mib']:.0f} | "
                    f"{mem['value']:.4f} |"
                )
            print(lines[-1], flush=True)
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="loss names to run (default: all)")
    ap.add_argument("--case", help="run only the cases whose title contains this text (e.g. 'binary')")
    ap.add_argument("--write", type=Path, help="replace the losses section of this Markdown file")
    ap.add_argument("--procs", type=int, default=5, help="processes that time the fast rows (default 5)")
    args = ap.parse_args()
    import torch

    _, coverage = median_interval(args.procs)
    header = (
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, CPU; {time.strftime('%Y-%m-%d')}. Times: median of "
        f"{args.procs} x {fast_rounds(args.reps, args.procs)} forward+backward calls per implementation "
        f"({args.procs} processes; {args.reps} calls in one process for Lovász and the distance/topology losses, a "
        "third of that in 3D), interleaved round-robin (a new random order each round) in each process, so machine "
        "load drifts hit every row alike; x CE = time / F.cross_entropy's. / fastest peer: segbench's time over the "
        "fastest peer's (lowest median) in the same round; each process's median over its rounds, then the median "
        f"of those [{coverage:.0%} distribution-free interval over the processes]; one process: over rounds, which "
        "understates the spread. Below 1 is faster. The row \"dice | segbench, second instance\" times segbench's "
        "Dice loss again as a row of its own: its ratio to the first instance is what the method can resolve. Peak "
        "extra MiB: growth of the peak RSS over the inputs during one first call, in a fresh process per row."
    )
    body = header + "\n\n" + bench(QUICK if args.quick else CASES, args.reps, args.only, args.case, args.procs)
    print(body)
    if args.write:
        write_section(args.write, SECTION, body)


if __name__ == "__main__":
    main()
