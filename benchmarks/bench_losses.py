"""Forward + backward time and peak memory of every segbench loss, side by side with MONAI, kornia and PyTorch.

Peak memory: each (case, implementation) runs once in a fresh subprocess; the growth of the process's peak resident
set (``ru_maxrss``) over its resident set just before the first forward + backward is the extra memory the loss
needs beyond its inputs. Times: every implementation of a case is timed in one process, round-robin in a new
random order each round (what runs just before a call changes its allocator state), median of several forward +
backward calls after a warm-up, so a busy machine slows all rows alike. ``F.cross_entropy`` is
the floor.

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
    random.Random(r).shuffle(order)  # a new order each round: no row always runs after the same neighbour
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


def paired_ratio(ours: list[float], theirs: list[float]) -> str:
    """Median over rounds of ours / theirs (both ran once in every round), with a distribution-free 95% confidence
    interval for that median (binomial order statistics) when there are enough rounds."""
    from scipy.stats import binom

    r = sorted(a / b for a, b in zip(ours, theirs, strict=True))
    n = len(r)
    med = statistics.median(r)
    if n < 9:
        return f"{med:.2f}"
    lo = max(int(binom.ppf(0.025, n, 0.5)) - 1, 0)
    return f"{med:.2f} [{r[lo]:.2f}, {r[n - 1 - lo]:.2f}]"


def bench(
    cases: dict[str, tuple[int, int, tuple[int, ...]]], reps: int, only: list[str] | None, case_filter: str | None
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
            rows += [(name, label, {"impl": "peer", "peer": src}) for label, src in PEERS.get(name, [])]
        slow = [r for r in rows if r[0] in SLOW]
        fast = [r for r in rows if r not in slow]
        timing: dict[int, dict | None] = {}
        for group, k in ((fast, FAST_REPS * reps), (slow, max(1, reps // 3) if heavy else reps)):
            if group:
                res = run_child({**shape, "mode": "time", "reps": k, "rows": [r[2] for r in group]})
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
                    peers = [timing.get(j) for j, r in enumerate(rows) if r[0] == name and r[1] != "segbench"]
                    peers = [p for p in peers if p and "ms" in p]
                    if peers:
                        vs = paired_ratio(tm["rounds"], min(peers, key=lambda p: p["ms"])["rounds"])
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
    args = ap.parse_args()
    import torch

    header = (
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, CPU; {time.strftime('%Y-%m-%d')}. Times: median of "
        f"{FAST_REPS * args.reps} forward+backward calls per implementation ({args.reps} for Lovász and the "
        "distance/topology losses, a third of that in 3D), interleaved round-robin (a new random order each round) "
        "in one process per group of rows (so machine load drifts hit every row alike); x CE = time "
        "/ F.cross_entropy's. / fastest peer: segbench's time over the fastest peer's (lowest median) in the same "
        "round, median over rounds [distribution-free 95% confidence interval of that median]; below 1 is faster. "
        "Peak extra MiB: growth of the peak RSS over the inputs during one first call, in a "
        "fresh process per row."
    )
    body = header + "\n\n" + bench(QUICK if args.quick else CASES, args.reps, args.only, args.case)
    print(body)
    if args.write:
        write_section(args.write, SECTION, body)


if __name__ == "__main__":
    main()
