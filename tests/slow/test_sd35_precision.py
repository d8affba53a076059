"""Slow regression suite: SD3.5 Medium and Large in fp16, bf16 and fp32, plus the default and a mixed load.

Runs only with `RUN_SLOW=1` and an accelerator (CUDA, XPU or MPS). Model locations:

    SD35_MEDIUM       hub id or local folder (default: stabilityai/stable-diffusion-3.5-medium)
    SD35_LARGE        hub id or local folder (default: stabilityai/stable-diffusion-3.5-large)
    SD35_LARGE_TURBO  optional; when set, Large Turbo is tested too (4 steps, guidance 0)

Other knobs: `SD35_STEPS` (default 4), `SD35_SIZE` (default 512; 32 on CPU), `SD35_SLOW_REPORT` (report path,
default out/sd35-slow-report.md). `SD35_SLOW_ALLOW_CPU=1` lets the CPU stand in for the accelerator, and is honoured
only when every model location is a local folder: that is how `make test-slow-tiny` rehearses this suite on the tiny
stand-ins built by `forktools.standins`.

Cross-precision agreement is the Pearson correlation of the pixels of the half-precision image and the fp32 image of
the same seed. It must be at least `MIN_CORRELATION` and beat, by `MIN_MARGIN`, the correlation of two fp32 images of
different seeds, so the metric is shown to tell "same image, rounded differently" from "another image" on the very
model under test. A broken pipeline (NaN, black or noise output, dropped or zeroed text conditioning) lands near the
other-seed baseline, while rounding in half precision moves a few-step trajectory only slightly.
"""

import os
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch

from diffusers import StableDiffusion3Pipeline
from tests.checks import NO_DTYPE, assert_module_dtype
from tests.checks import load as load_pipeline


BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32
DTYPES = {"fp16": FP16, "bf16": BF16, "fp32": FP32}
TEXT_ENCODERS = ("text_encoder", "text_encoder_2", "text_encoder_3")
PROMPT = "a photo of an astronaut riding a horse on the moon"
SEED = 0
MIN_CORRELATION = 0.8
MIN_MARGIN = 0.1


@dataclass(frozen=True)
class Model:
    name: str
    location: str
    guidance: float


def _models():
    models = [
        Model("medium", os.environ.get("SD35_MEDIUM", "stabilityai/stable-diffusion-3.5-medium"), 4.5),
        Model("large", os.environ.get("SD35_LARGE", "stabilityai/stable-diffusion-3.5-large"), 3.5),
    ]
    if os.environ.get("SD35_LARGE_TURBO"):
        models.append(Model("large-turbo", os.environ["SD35_LARGE_TURBO"], 0.0))
    return models


MODELS = _models()


def _device():
    if torch.cuda.is_available():
        return "cuda"
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        return "xpu"
    if torch.backends.mps.is_available():
        return "mps"
    local = all(os.path.isdir(model.location) for model in MODELS)
    if os.environ.get("SD35_SLOW_ALLOW_CPU") == "1" and local:
        return "cpu"
    return None


DEVICE = _device()
RUN_SLOW = os.environ.get("RUN_SLOW", "").lower() in ("1", "true", "yes")
STEPS = int(os.environ.get("SD35_STEPS", "4"))
SIZE = int(os.environ.get("SD35_SIZE", "32" if DEVICE == "cpu" else "512"))

pytestmark = [
    pytest.mark.skipif(not RUN_SLOW, reason="slow test: set RUN_SLOW=1 on a machine with a GPU (see README)"),
    pytest.mark.skipif(
        DEVICE is None,
        reason="needs an accelerator (CUDA, XPU or MPS); SD35_SLOW_ALLOW_CPU=1 works only with local stand-ins",
    ),
]
IMAGES = {}  # (model, dtype name, seed) -> image array


def record(request, **info):
    """Add to this test's row of the end-of-run report (see conftest.py)."""
    report = request.getfixturevalue("slow_report")
    report["_device"] = DEVICE
    report.setdefault(request.node.nodeid, {}).update(info)


def load(model, dtype, request=None):
    """Load on the device, or with model CPU offload when the weights would not fit in its memory; the seconds it took
    go to the report row of `request`'s test."""
    start = time.perf_counter()
    pipe = load_pipeline(StableDiffusion3Pipeline, model.location, NO_DTYPE if dtype is None else dtype)
    pipe.set_progress_bar_config(disable=True)
    weights = sum(
        p.numel() * p.element_size()
        for module in pipe.components.values()
        if isinstance(module, torch.nn.Module)
        for p in module.parameters()
    )
    note = ""
    if DEVICE == "cuda" and weights > 0.8 * torch.cuda.get_device_properties(0).total_memory:
        pipe.enable_model_cpu_offload()
        note = f"model CPU offload ({weights / 2**30:.0f} GiB of weights)"
    else:
        pipe.to(DEVICE)
    if request is not None:
        record(request, load_s=time.perf_counter() - start, note=note)
    return pipe, note


def generate(pipe, model, seed=SEED):
    steps = 4 if model.name == "large-turbo" else STEPS
    generator = torch.Generator("cpu").manual_seed(seed)
    start = time.perf_counter()
    image = pipe(
        PROMPT,
        num_inference_steps=steps,
        guidance_scale=model.guidance,
        height=SIZE,
        width=SIZE,
        generator=generator,
        output_type="np",
    ).images[0]
    seconds_per_step = (time.perf_counter() - start) / steps
    assert image.shape == (SIZE, SIZE, 3)
    assert np.isfinite(image).all(), "non-finite pixels"
    assert image.std() > 0, "flat image"
    return image, seconds_per_step


def fp32_image(model, seed):
    key = (model.name, "fp32", seed)
    if key not in IMAGES:
        pipe, _ = load(model, FP32)
        IMAGES[key] = generate(pipe, model, seed)[0]
        del pipe
    return IMAGES[key]


def correlation(a, b):
    return float(np.corrcoef(a.astype(np.float64).ravel(), b.astype(np.float64).ravel())[0, 1])


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_load_encode_generate(request, model, dtype_name):
    dtype = DTYPES[dtype_name]
    record(request, model=model.name, dtype=dtype_name, case="load + encode + generate")
    pipe, _ = load(model, dtype, request)
    for name in TEXT_ENCODERS:
        assert_module_dtype(getattr(pipe, name), dtype, name)
    embeds = pipe.encode_prompt(PROMPT, None, None, do_classifier_free_guidance=True)
    assert [t.dtype for t in embeds] == [pipe.transformer.dtype] * 4
    image, seconds_per_step = generate(pipe, model)
    IMAGES[(model.name, dtype_name, SEED)] = image
    record(request, seconds_per_step=seconds_per_step)


@pytest.mark.parametrize("dtype_name", ["fp16", "bf16"])
@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_half_precision_agrees_with_fp32(request, model, dtype_name):
    record(request, model=model.name, dtype=dtype_name, case="agreement with fp32")
    key = (model.name, dtype_name, SEED)
    if key not in IMAGES:
        pipe, _ = load(model, DTYPES[dtype_name])
        IMAGES[key] = generate(pipe, model)[0]
        del pipe
    reference, other_seed = fp32_image(model, SEED), fp32_image(model, SEED + 1)
    same = correlation(IMAGES[key], reference)
    baseline = correlation(other_seed, reference)
    record(request, note=f"corr {same:.4f} vs other-seed {baseline:.4f}")
    assert same >= MIN_CORRELATION, f"{dtype_name} image correlates {same:.4f} with fp32 (< {MIN_CORRELATION})"
    assert same >= baseline + MIN_MARGIN, f"{dtype_name}: {same:.4f} is not clearly above other-seed {baseline:.4f}"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_default_load_without_dtype(request, model):
    record(request, model=model.name, dtype="(none)", case="default load")
    pipe, _ = load(model, None, request)
    for name in (*TEXT_ENCODERS, "transformer", "vae"):
        assert_module_dtype(getattr(pipe, name), FP32, name)
    _, seconds_per_step = generate(pipe, model)
    record(request, seconds_per_step=seconds_per_step)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.name)
def test_mixed_load_t5_fp32_rest_bf16(request, model):
    record(request, model=model.name, dtype="T5 fp32, rest bf16", case="mixed load")
    pipe, _ = load(model, {"text_encoder_3": FP32, "default": BF16}, request)
    assert_module_dtype(pipe.text_encoder_3, FP32, "text_encoder_3")
    for name in ("text_encoder", "text_encoder_2", "transformer", "vae"):
        assert_module_dtype(getattr(pipe, name), BF16, name)
    embeds = pipe.encode_prompt(PROMPT, None, None, do_classifier_free_guidance=True)
    assert [t.dtype for t in embeds] == [BF16] * 4
    _, seconds_per_step = generate(pipe, model)
    record(request, seconds_per_step=seconds_per_step)
