"""The tiny offline SD3 fixture: stored in the real SD3.5 dtype layout, and it generates."""

import glob
import os

import numpy as np
import torch
from safetensors import safe_open

from forktools import standins
from diffusers import StableDiffusion3Pipeline


def stored_dtypes(folder):
    dtypes = set()
    for path in glob.glob(os.path.join(folder, "*.safetensors")):
        with safe_open(path, framework="pt") as f:
            dtypes |= {f.get_slice(key).get_dtype() for key in f.keys()}
    return dtypes


def test_fixture_is_stored_in_the_sd35_layout(sd35_repo):
    for name in standins.TEXT_ENCODERS:
        assert stored_dtypes(os.path.join(sd35_repo, name)) == {"F16"}, name
    assert stored_dtypes(os.path.join(sd35_repo, "transformer")) == {"BF16"}
    assert stored_dtypes(os.path.join(sd35_repo, "vae")) == {"F32"}


def test_fixture_generates_a_32x32_image_in_fp32(sd35_repo):
    pipe = StableDiffusion3Pipeline.from_pretrained(sd35_repo, dtype=torch.float32)
    image = pipe(
        "a photo of a cat",
        num_inference_steps=2,
        height=32,
        width=32,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
    ).images
    assert image.shape == (1, 32, 32, 3)
    assert np.isfinite(image).all()
