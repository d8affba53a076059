"""examples/: the demo (upstream beside the fork) and the generation script's dtype tables and bad input.

The examples are scripts for users, so they are run here as users run them: as processes.
"""

import os
import subprocess
import sys

import pytest
from PIL import Image


EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "examples")
DEMO_SETUPS = (
    "all bf16", "text encoders fp32, rest bf16", "text encoders bf16, rest fp32", "text encoders fp16, rest bf16"
)  # fmt: skip


def run(script, *argv):
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, script), *argv], capture_output=True, text=True)


def dtype_table(stdout):
    """{row name: its last column} of the tables sd35_generate.py prints."""
    rows = [line.split(" | ") for line in stdout.splitlines() if line.startswith("| ") and "---" not in line]
    return {row[0][2:]: row[-1].rstrip(" |") for row in rows}


@pytest.mark.parametrize(
    "options,loaded,handed",
    [
        (["--dtype", "bf16"], {"text_encoder": "bf16", "text_encoder_3": "bf16", "transformer": "bf16"}, "bf16"),
        ([], {"text_encoder": "fp32", "text_encoder_3": "fp32", "transformer": "fp32"}, "fp32"),
        # fp16: T5's `wo` stays fp32, as transformers keeps it; everything handed to the transformer is fp16.
        (["--dtype", "fp16"], {"text_encoder": "fp16", "text_encoder_3": "fp16, fp32", "transformer": "fp16"}, "fp16"),
        (["--dtype", "bf16", "--t5-dtype", "fp32"], {"text_encoder": "bf16", "text_encoder_3": "fp32"}, "bf16"),
    ],
)
def test_generate_prints_honest_dtype_tables(sd35_repo, tmp_path, options, loaded, handed):
    out = tmp_path / "image.png"
    proc = run("sd35_generate.py", "--model", sd35_repo, *options, "--steps", "2", "--size", "32", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = dtype_table(proc.stdout)
    for name, dtype in loaded.items():
        assert table[name] == dtype, (name, table)
    for name in ("prompt_embeds", "pooled_prompt_embeds", "latents"):
        assert table[name] == handed, (name, table)
    assert Image.open(out).size == (32, 32)


def test_demo_shows_upstream_beside_the_fork(sd35_repo, tmp_path):
    proc = run("demo.py", "--sd35", sd35_repo, "--out", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = (tmp_path / "demo" / "demo.md").read_text().splitlines()[4:]
    rows = [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]
    assert [row[:2] for row in rows] == [[name, setup] for name in ("sd35", "flux", "sdxl") for setup in DEMO_SETUPS]
    for name, setup, upstream, fork in rows:
        rest = "float32" if setup.endswith("rest fp32") else "bfloat16"
        # The fork runs every setup and hands the denoiser its own dtype; upstream runs the uniform setup the same
        # and crashes wherever the text encoders are in another dtype than the rest.
        assert fork == f"ok: conditioning {rest}, latents {rest}", (name, setup, fork)
        if setup != "all bf16":
            assert upstream.startswith("RuntimeError: "), (name, setup, upstream)
        elif upstream.startswith("ok"):  # with transformers 4.49, #11117's partial cast fails upstream here too
            assert upstream == fork, (name, setup, upstream)
    assert Image.open(tmp_path / "demo" / "contact-sheet.png").height > len(rows) * 128


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
