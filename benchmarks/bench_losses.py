"""Forward + backward time and peak memory of every segbench loss, side by side with MONAI, kornia and PyTorch.

Each (case, implementation) runs in a fresh subprocess, so peak memory is measured cleanly: the growth of the
process's peak resident set (``ru_maxrss``) over its resident set just before the first forward + backward, i.e.
the extra memory the loss needs beyond its inputs. Times are the median of several forward + backward calls after
one warm-up call. ``F.cross_entropy`` is the floor.

    python benchmarks/bench_losses.py                      # full sizes, prints a Markdown table
    python benchmarks/bench_losses.py --quick              # small sizes, a smoke run
    python benchmarks/bench_losses.py --write benchmarks/RESULTS.md   # replace the "## Losses (issue #3)" section
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "multiclass 2D (8, 3, 256, 256)": (8, 3, (256, 256)),
    "binary 2D (8, 1, 256, 256)": (8, 1, (256, 256)),
    "multiclass 3D (2, 4, 64, 128, 128)": (2, 4, (64, 128, 128)),
}
QUICK = {
    "multiclass 2D (2, 3, 32, 32)": (2, 3, (32, 32)),
    "binary 2D (2, 1, 32, 32)": (2, 1, (32, 32)),
    "multiclass 3D (1, 4, 8, 16, 16)": (1, 4, (8, 16, 16)),
}
SECTION = "## Losses (issue #3)"

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
import json, resource, statistics, sys, time
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
if spec["impl"] == "segbench":
    from segbench import losses
    fn = losses.get(spec["loss"])
else:
    import monai, monai.losses, kornia, kornia.losses  # noqa: F401
    fn = eval(spec["peer"])
if fn is None:
    print(json.dumps(None)); sys.exit(0)
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
def step():
    xi = x0.detach().requires_grad_(True)
    loss = fn(xi, t)
    loss.backward()
    return float(loss)
base = rss()
value = step()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
times = []
for _ in range(spec["reps"]):
    t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
print(json.dumps({"ms": 1000 * statistics.median(times), "peak_mib": max(peak, 0) / 2**20, "value": value}))
"""


def run_one(spec: dict) -> dict | None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, timeout=1200, check=False
    )
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"rc {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(cases: dict[str, tuple[int, int, tuple[int, ...]]], reps: int, only: list[str] | None) -> str:
    lines = []
    for case, (n, c, spatial) in cases.items():
        lines += [f"### {case}", "", "| loss | implementation | fwd+bwd ms | peak extra MiB | value |", "|---|---|---|---|---|"]
        heavy = len(spatial) == 3
        for name in SEGBENCH:
            if only and name not in only:
                continue
            r = 1 if heavy and name in ("hausdorff_dt", "boundary") else reps
            rows = [("segbench", "segbench", {"impl": "segbench", "loss": name})]
            rows += [(label, "peer", {"impl": "peer", "peer": src}) for label, src in PEERS.get(name, [])]
            for label, _, extra in rows:
                res = run_one({"n": n, "c": c, "spatial": list(spatial), "reps": r, **extra})
                if res is None:
                    continue
                if "error" in res:
                    lines.append(f"| {name} | {label} | error: {res['error'][:80]} | | |")
                else:
                    lines.append(
                        f"| {name} | {label} | {res['ms']:.1f} | {res['peak_mib']:.0f} | {res['value']:.4f} |"
                    )
                print(lines[-1], flush=True)
        lines.append("")
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    block = f"{SECTION}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: block + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + block
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", nargs="*", help="loss names to run (default: all)")
    ap.add_argument("--write", type=Path, help="replace the losses section of this Markdown file")
    args = ap.parse_args()
    import torch

    header = (
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, CPU; {time.strftime('%Y-%m-%d')}. Median of {args.reps} "
        "forward+backward calls after a warm-up (1 call for the 3D distance losses); peak extra MiB = growth of "
        "peak RSS over the inputs during the first call, in a fresh process per row."
    )
    body = header + "\n\n" + bench(QUICK if args.quick else CASES, args.reps, args.only)
    print(body)
    if args.write:
        write_section(args.write, body)


if __name__ == "__main__":
    main()
