"""fp8 text encoders (patch layerwise-casting-for-text-encoders): weights stored in float8_e4m3fn, computed in bf16,
on the tiny SD3.5 fixture."""

import numpy as np
import pytest
import torch

from forktools import standins
from diffusers import StableDiffusion3Pipeline
from diffusers.hooks import apply_layerwise_casting
from tests.checks import load


FP8, BF16 = torch.float8_e4m3fn, torch.bfloat16
# Stated bound: fp8 weights move each embedding by less than this in cosine distance from the bf16 reference.
MIN_COSINE = 0.99


def weight_bytes(module):
    return sum(p.numel() * p.element_size() for p in module.parameters())


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0).item()


@pytest.fixture
def pipes(sd35_repo):
    reference = load(StableDiffusion3Pipeline, sd35_repo, BF16)
    pipe = load(StableDiffusion3Pipeline, sd35_repo, BF16)
    for name in standins.TEXT_ENCODERS:
        apply_layerwise_casting(getattr(pipe, name), storage_dtype=FP8, compute_dtype=BF16)
    return reference, pipe


def test_fp8_text_encoders_halve_weight_bytes_and_stay_close(pipes):
    reference, pipe = pipes
    for name in standins.TEXT_ENCODERS:
        ratio = weight_bytes(getattr(pipe, name)) / weight_bytes(getattr(reference, name))
        assert ratio <= 0.55, f"{name}: fp8 weights take {ratio:.3f} of the bf16 bytes"
    expected = reference.encode_prompt("a photo of a cat", None, None, do_classifier_free_guidance=True)
    got = pipe.encode_prompt("a photo of a cat", None, None, do_classifier_free_guidance=True)
    for ref, fp8 in zip(expected, got):
        assert fp8.dtype == BF16 and torch.isfinite(fp8).all()
        assert cosine(ref, fp8) >= MIN_COSINE
    image = pipe("a photo of a cat", num_inference_steps=2, height=32, width=32, output_type="np").images
    assert image.shape == (1, 32, 32, 3) and np.isfinite(image).all()


def test_encode_prompt_takes_the_compute_dtype_not_the_storage_dtype(pipes):
    _, pipe = pipes
    encode_only = StableDiffusion3Pipeline(**dict(pipe.components, transformer=None))
    embeds = encode_only.encode_prompt("a photo of a cat", None, None, do_classifier_free_guidance=False)
    assert embeds[0].dtype == embeds[2].dtype == BF16
