"""Upstream issue #11117 with the real loader of transformers 4.49.0 (run on the transformers-4 line:
`make test LINE=0.39 ENV=tf-4.49.0`).

transformers 4.49.0 builds a CLIPTextModelWithProjection's `text_model` in the checkpoint's float16 while its
`text_projection` follows the requested dtype, when the checkpoint's config was written by transformers 4 (with a
`torch_dtype` entry, as the real SD3.5 repositories have). Pristine diffusers then fails with the issue's exact error;
the fork loads every text encoder whole and generates.
"""

import json
import os
import subprocess
import sys

import pytest
import transformers

from forktools.envs import dtype_keyword
from tests.checks import pristine_src


pytestmark = pytest.mark.skipif(
    transformers.__version__ != "4.49.0",
    reason="#11117 reproduces with transformers 4.49.0 only: run `make test LINE=0.39 ENV=tf-4.49.0`",
)
ERRORS = {
    "bfloat16": "expected m1 and m2 to have the same dtype, but got: c10::Half != c10::BFloat16",
    "float32": "expected m1 and m2 to have the same dtype, but got: c10::Half != float",
}
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")
# Load the pipeline in a dtype, generate two steps, and report what happened as JSON.
PROBE = """
import json, sys, torch
import diffusers
from diffusers import StableDiffusion3Pipeline

repo, dtype, keyword = sys.argv[1], getattr(torch, sys.argv[2]), sys.argv[3]
pipe = StableDiffusion3Pipeline.from_pretrained(repo, **{keyword: dtype})
dtypes = {name: sorted({str(p.dtype) for p in getattr(pipe, name).parameters()}) for name in sys.argv[4:]}
try:
    pipe("a photo of a cat", num_inference_steps=2, height=32, width=32, generator=torch.Generator().manual_seed(0))
    error = None
except RuntimeError as err:
    error = str(err).splitlines()[0]
print(json.dumps({"version": diffusers.__version__, "dtypes": dtypes, "error": error}))
"""


def probe(repo, dtype_name, pythonpath=None):
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [pythonpath, env.get("PYTHONPATH")]))
    # Pristine is the same release as the fork under test, so it takes the same keyword.
    cmd = [sys.executable, "-c", PROBE, repo, dtype_name, dtype_keyword(), *TEXT_ENCODERS]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def pristine():
    # The pristine release of the line under test (the imported diffusers, which `make compare` puts on PYTHONPATH).
    return str(pristine_src())


def test_the_fixture_is_written_like_the_real_repositories(sd35_repo):
    with open(os.path.join(sd35_repo, "text_encoder", "config.json")) as f:
        assert json.load(f)["torch_dtype"] == "float16"


@pytest.mark.parametrize("dtype_name", sorted(ERRORS))
def test_pristine_fails_with_the_issue_error_and_the_fork_generates(sd35_repo, pristine, dtype_name):
    upstream = probe(sd35_repo, dtype_name, pristine)
    assert "+" not in upstream["version"]  # pristine, not the fork
    assert upstream["error"] == ERRORS[dtype_name]
    # The cause: CLIP's text_model stayed in the checkpoint's float16 beside the requested dtype.
    assert upstream["dtypes"]["text_encoder"] == sorted({"torch.float16", f"torch.{dtype_name}"})

    fork = probe(sd35_repo, dtype_name)
    assert fork["version"].endswith("+mixeddtype")
    assert fork["error"] is None
    for name in TEXT_ENCODERS:
        assert fork["dtypes"][name] == [f"torch.{dtype_name}"], name
