"""fp8 text encoders with fp16 and bf16 compute (patch layerwise-casting-for-text-encoders), on the tiny SD3.5 fixture.

Weights stored in float8_e4m3fn compute in the compute dtype, except what transformers keeps in float32 for it: T5's
`wo` for float16. The overflow case builds a T5 feed-forward block whose every intermediate fits in float16 but whose
`wo` output does not, and checks that fp16 compute matches fp32 compute of the same fp8 weights; computing `wo` in
float16 (the fork before patch layerwise-casting-for-text-encoders's rule, at e808f22) gives inf there, which T5's
fp16 clamping turns into finite
but wrong values.
"""

import copy

import pytest
import torch
import torch.nn.functional as F

from forktools import standins
from diffusers import StableDiffusion3Pipeline
from diffusers.hooks import apply_layerwise_casting
from tests.checks import load


FP8, BF16, FP16, FP32 = torch.float8_e4m3fn, torch.bfloat16, torch.float16, torch.float32
FP16_MAX = torch.finfo(FP16).max
PROMPT = "a photo of a cat"
MIN_COSINE = 0.99


def cosine(a, b):
    return F.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0).item()


def spy_wo(t5):
    """Record the dtype T5's first `wo` computes in: {(input dtype, weight dtype)}."""
    seen = set()
    wo = t5.encoder.block[0].layer[1].DenseReluDense.wo
    wo.register_forward_pre_hook(lambda module, args: seen.add((args[0].dtype, module.weight.dtype)))
    return seen


@pytest.mark.parametrize("compute", [FP16, BF16], ids=["fp16", "bf16"])
def test_fp8_text_encoders_compute_in_fp16_and_bf16(sd35_repo, compute):
    reference = load(StableDiffusion3Pipeline, sd35_repo, compute)
    pipe = load(StableDiffusion3Pipeline, sd35_repo, compute)
    for name in standins.TEXT_ENCODERS:
        apply_layerwise_casting(getattr(pipe, name), storage_dtype=FP8, compute_dtype=compute)
        assert FP8 in {p.dtype for p in getattr(pipe, name).parameters()}, f"{name} is not stored in fp8"
    wo = spy_wo(pipe.text_encoder_3)
    expected = reference.encode_prompt(PROMPT, None, None, do_classifier_free_guidance=True)
    got = pipe.encode_prompt(PROMPT, None, None, do_classifier_free_guidance=True)
    for ref, fp8 in zip(expected, got):
        assert fp8.dtype == compute and torch.isfinite(fp8).all()
        assert cosine(ref, fp8) >= MIN_COSINE
    # transformers keeps `wo` in float32 for float16 only; layerwise casting computes it as transformers would.
    assert wo == ({(FP32, FP32)} if compute == FP16 else {(BF16, BF16)})


def round_to_fp8(model):
    """Make every weight layerwise casting stores in fp8 exactly representable there (storing it loses nothing)."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            module.weight.data = module.weight.data.to(FP8).to(module.weight.dtype)


def capture_input(module, run):
    seen = []
    handle = module.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    try:
        run()
    finally:
        handle.remove()
    return seen[-1]


@pytest.fixture
def overflowing_t5(sd35_repo):
    """
    The tiny pipeline's T5, loaded in float16, its last feed-forward block made to overflow float16 in `wo` alone:
    `wi_1` = `wi_0`, so `gelu(wi_0 x) * wi_1 x` is (about) positive and `wo`'s sums do not cancel; `wo`'s rows are
    1.0 or 0.25 (exact in fp8), so the output's direction changes where float16 saturates; the block's input norm is
    scaled until the largest `gelu(wi_0 x) * wi_1 x` is 2**15, half of float16's range (measured, not guessed).
    """
    pipe = load(StableDiffusion3Pipeline, sd35_repo, FP16)
    t5, ids = pipe.text_encoder_3, pipe.tokenizer_3(PROMPT, return_tensors="pt").input_ids
    round_to_fp8(t5)
    feed_forward = t5.encoder.block[-1].layer[1]
    dense = feed_forward.DenseReluDense
    dense.wi_1.weight.data.copy_(dense.wi_0.weight.data)
    d_model, d_ff = dense.wo.weight.shape
    rows = torch.where(torch.arange(d_model) % 2 == 0, 1.0, 0.25)
    dense.wo.weight.data = (rows[:, None] * torch.ones(d_model, d_ff)).to(dense.wo.weight.dtype)
    with torch.no_grad():
        x = capture_input(dense, lambda: t5(ids)).float()
        u = F.linear(x, dense.wi_0.weight.float())
        largest = (dense.act(u) * u).abs().max().item()
    feed_forward.layer_norm.weight.data *= (2**15 / largest) ** 0.5
    return t5, ids


def test_fp16_compute_stays_finite_and_close_where_wo_exceeds_fp16(overflowing_t5):
    t5, ids = overflowing_t5
    # The reference: the same model, the same fp8 weights, computed in float32.
    reference = copy.deepcopy(t5).to(FP32)
    apply_layerwise_casting(reference, storage_dtype=FP8, compute_dtype=FP32)
    apply_layerwise_casting(t5, storage_dtype=FP8, compute_dtype=FP16)
    dense, outputs = t5.encoder.block[-1].layer[1].DenseReluDense, []
    with torch.no_grad():
        expected = reference(ids)[0].float()
        x = capture_input(dense, lambda: outputs.append(t5(ids)[0]))

        # The case is exercised: every intermediate fits in float16, `wo`'s output does not.
        w = {name: getattr(dense, name).weight.to(FP16) for name in ("wi_0", "wi_1", "wo")}
        assert x.dtype == FP16
        product = dense.act(F.linear(x, w["wi_0"])) * F.linear(x, w["wi_1"])
        assert torch.isfinite(product).all() and product.abs().max().item() < FP16_MAX
        assert F.linear(product.float(), w["wo"].float()).abs().max().item() > 2 * FP16_MAX
        assert torch.isinf(F.linear(product, w["wo"])).any(), "`wo` computed in float16 overflows"

    (got,) = outputs
    assert got.dtype == FP16 and torch.isfinite(got).all()
    # T5 clamps float16 infs to finite values, so finiteness alone proves little: compare with fp32 compute.
    assert cosine(got, expected) >= MIN_COSINE
    relative_error = ((got.float() - expected).abs().max() / expected.abs().max()).item()
    assert relative_error <= 0.01


def test_casting_twice_raises_as_upstream_does(sd35_repo):
    t5 = load(StableDiffusion3Pipeline, sd35_repo, torch.bfloat16).text_encoder_3
    apply_layerwise_casting(t5, storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    with pytest.raises(ValueError, match="already exists"):
        apply_layerwise_casting(t5, storage_dtype=torch.float8_e5m2, compute_dtype=torch.float16)


def test_a_unit_casts_its_parameters_only_and_honours_the_skip_patterns(sd35_repo):
    from transformers import T5EncoderModel

    t5 = load(StableDiffusion3Pipeline, sd35_repo, torch.bfloat16).text_encoder_3
    block = t5.encoder.block[0].layer[1]  # T5LayerFF: DenseReluDense (a unit, holds `wo`) and a layer_norm
    block.DenseReluDense.register_buffer("scale", torch.ones(2, dtype=torch.bfloat16))
    apply_layerwise_casting(t5, storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    assert isinstance(t5, T5EncoderModel)
    assert block.DenseReluDense.wo.weight.dtype == torch.float8_e4m3fn
    assert block.DenseReluDense.scale.dtype == torch.bfloat16  # a buffer of the unit is left alone
    assert block.layer_norm.weight.dtype == torch.bfloat16  # skipped by the default "norm" pattern
    registry = getattr(t5, "_diffusers_hook", None)
    assert registry is None or registry.get_hook("layerwise_casting") is None  # the model itself is never one unit
