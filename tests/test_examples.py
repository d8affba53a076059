"""examples/: the demo on the tiny offline stand-in, and the generation script's handling of bad input."""

import os
import subprocess
import sys

import pytest
from PIL import Image


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
sys.path.insert(0, EXAMPLES)

import demo  # noqa: E402
import sd35_generate  # noqa: E402


def test_demo_writes_contact_sheet_and_honest_dtype_tables(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sd35_generate, "DEFAULT_STAND_IN", str(tmp_path / "stand-in"))
    assert demo.main(["--out", str(tmp_path / "demo"), "--steps", "2"]) == 0
    sheet = Image.open(tmp_path / "demo" / "contact-sheet.png")
    assert sheet.width == demo.TILE * len(demo.SETUPS)
    tables = (tmp_path / "demo" / "dtype-tables.md").read_text()
    sections = dict(part.split("\n", 1) for part in tables.split("\n## ")[1:])
    assert set(sections) == set(demo.SETUPS)

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
    for caption in demo.SETUPS:
        slug = caption.replace(" ", "-").replace(",", "")
        assert Image.open(tmp_path / "demo" / f"{slug}.png").size == (32, 32)


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--dtype", "fp8"], "argument --dtype: invalid choice: 'fp8'"),
        (["--model", "/no/such/folder"], "no such folder: /no/such/folder"),
        (["--model", EXAMPLES], "is not a diffusers pipeline folder (no model_index.json)"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(argv, message):
    proc = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "sd35_generate.py"), *argv], capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sd35_generate.py: error: ")
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_help_reads_well():
    proc = subprocess.run(
        [sys.executable, os.path.join(EXAMPLES, "sd35_generate.py"), "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    for option in ("--model", "--dtype", "--t5-dtype", "--clip-dtype", "--steps", "--guidance", "--offload", "--out"):
        assert option in proc.stdout
