#!/usr/bin/env python3
"""`make demo`: run examples/sd35_generate.py on the tiny offline stand-in in several precision setups and write one
contact sheet (PNG, a caption per setup) and the dtype tables each run printed.

    python examples/demo.py [--out out/demo]
"""

import argparse
import os
import sys

from PIL import Image, ImageDraw


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sd35_generate  # noqa: E402


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
    parser.add_argument("--out", default=os.path.join("out", "demo"))
    parser.add_argument("--steps", default="8")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    tiles, tables = [], []
    for caption, options in SETUPS.items():
        slug = caption.replace(" ", "-").replace(",", "")
        lines = []
        argv = [*options, "--steps", args.steps, "--out", os.path.join(args.out, f"{slug}.png")]
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
        f.write("# Demo: SD3.5 precision setups on the tiny offline stand-in\n\n" + "\n\n".join(tables) + "\n")
    print(f"wrote {sheet_path} and {os.path.join(args.out, 'dtype-tables.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
