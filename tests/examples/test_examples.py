"""examples/: the demo on a tiny offline stand-in, and the generation script's handling of bad input.

The examples are scripts for users, so they are run here as users run them: as processes.
"""

import os
import subprocess
import sys

import pytest
from PIL import Image


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")
SETUPS = ["bf16", "fp16", "fp32", "T5 fp32, rest bf16", "no dtype given"]


def run(script, *argv):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *argv], capture_output=True, text=True)


def test_demo_writes_contact_sheet_and_honest_dtype_tables(sd35_repo, tmp_path):
    proc = run("demo.py", "--model", sd35_repo, "--out", str(tmp_path / "demo"), "--steps", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    sheet = Image.open(tmp_path / "demo" / "contact-sheet.png")
    assert sheet.width == 160 * len(SETUPS)
    tables = (tmp_path / "demo" / "dtype-tables.md").read_text()
    sections = dict(part.split("\n", 1) for part in tables.split("\n## ")[1:])
    assert list(sections) == SETUPS

    def row(caption, name):
        return next(line for line in sections[caption].splitlines() if line.startswith(f"| {name} |"))

    for caption, expected in [("bf16", "bf16"), ("fp32", "fp32"), ("no dtype given", "fp32")]:
        for name in ("text_encoder", "text_encoder_2", "text_encoder_3", "transformer"):
            assert row(caption, name).endswith(f"| {expected} |"), (caption, name)
        for name in ("prompt_embeds", "pooled_prompt_embeds", "latents"):
            assert row(caption, name) == f"| {name} | {expected} |"
    # fp16: T5's `wo` stays fp32, as transformers keeps it; everything handed to the transformer is fp16.
    assert row("fp16", "text_encoder_3").endswith("| fp16, fp32 |")
    assert row("fp16", "prompt_embeds") == "| prompt_embeds | fp16 |"
    assert row("T5 fp32, rest bf16", "text_encoder_3").endswith("| fp32 |")
    assert row("T5 fp32, rest bf16", "text_encoder").endswith("| bf16 |")
    assert row("T5 fp32, rest bf16", "prompt_embeds") == "| prompt_embeds | bf16 |"
    for caption in SETUPS:
        slug = caption.replace(" ", "-").replace(",", "")
        assert Image.open(tmp_path / "demo" / f"{slug}.png").size == (32, 32)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--model", "x/y", "--dtype", "fp8"], "argument --dtype: invalid choice: 'fp8'"),
        (["--model", "/no/such/folder"], "no such folder: /no/such/folder"),
        (["--model", EXAMPLES], "is not a diffusers pipeline folder (no model_index.json)"),
        ([], "the following arguments are required: --model"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, message):
    proc = run("sd35_generate.py", *argv)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sd35_generate.py: error: ")
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_help_reads_well():
    proc = run("sd35_generate.py", "--help")
    assert proc.returncode == 0
    for option in ("--model", "--dtype", "--t5-dtype", "--clip-dtype", "--steps", "--guidance", "--offload", "--out"):
        assert option in proc.stdout
