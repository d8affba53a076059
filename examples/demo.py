#!/usr/bin/env python3
"""`make demo`: run examples/sd35_generate.py on one pipeline in several precision setups and write one contact sheet
(PNG, a caption per setup) and the dtype tables each run printed.

    python examples/demo.py --model FOLDER_OR_HUB_ID [--out out/demo] [--steps 8] [--size 32]

`make demo` runs it on a tiny offline stand-in (`python -m forktools.standins FOLDER --shape medium`).
"""

import argparse
import os
import sys

import sd35_generate
from PIL import Image, ImageDraw


SETUPS = {
    "bf16": ["--dtype", "bf16"],
    "fp16": ["--dtype", "fp16"],
    "fp32": ["--dtype", "fp32"],
    "T5 fp32, rest bf16": ["--dtype", "bf16", "--t5-dtype", "fp32"],
    "no dtype given": [],
}
TILE = 160


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="hub id or local folder of an SD3 / SD3.5 pipeline")
    parser.add_argument("--out", default=os.path.join("out", "demo"))
    parser.add_argument("--steps", default="8")
    parser.add_argument("--size", default="32", help="image height and width (default: 32, for a tiny stand-in)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    tiles, tables = [], []
    for caption, options in SETUPS.items():
        slug = caption.replace(" ", "-").replace(",", "")
        lines = []
        argv = ["--model", args.model, *options, "--steps", args.steps, "--size", args.size]
        argv += ["--out", os.path.join(args.out, f"{slug}.png")]
        image, seen = sd35_generate.run(sd35_generate.build_parser().parse_args(argv), log=lines.append)
        tables.append(f"## {caption}\n\n`python examples/sd35_generate.py {' '.join(argv)}`\n\n" + "\n".join(lines))
        tiles.append((caption, image, seen))
        print(
            f"{caption}: embeddings {sd35_generate.short(seen['prompt_embeds'])}, latents "
            f"{sd35_generate.short(seen['latents'])}"
        )
    sheet = Image.new("RGB", (TILE * len(tiles), TILE + 44), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (caption, image, seen) in enumerate(tiles):
        sheet.paste(image.resize((TILE - 8, TILE - 8), Image.NEAREST), (i * TILE + 4, 4))
        draw.text((i * TILE + 4, TILE), caption, fill="black")
        draw.text((i * TILE + 4, TILE + 16), f"embeds {sd35_generate.short(seen['prompt_embeds'])}", fill="gray")
    sheet_path = os.path.join(args.out, "contact-sheet.png")
    sheet.save(sheet_path)
    with open(os.path.join(args.out, "dtype-tables.md"), "w") as f:
        f.write(f"# Demo: SD3.5 precision setups on {args.model}\n\n" + "\n\n".join(tables) + "\n")
    print(f"wrote {sheet_path} and {os.path.join(args.out, 'dtype-tables.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
