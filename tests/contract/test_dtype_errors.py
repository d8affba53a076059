"""Errors never mask errors (patch name-the-text-encoder-in-dtype-errors), through the SD3 pipeline's `encode_prompt`
on the tiny SD3.5 fixture.

Only torch's complaint about operands in different dtypes, raised by a text encoder that really holds parameters in
several dtypes, is reworded: a RuntimeError chained to torch's, naming the component, the dtypes it holds and the
pipeline's dtype, with load-time advice (never `.to()`). Out-of-memory and every other error, a dtype mismatch from an
encoder whose parameters are uniform, and one from a T5 whose `wo` transformers keeps in float32, propagate as they
are: the very same exception object.
"""

import pytest
import torch
import torch.nn.functional as F
from transformers import T5EncoderModel

from forktools import standins
from diffusers import StableDiffusion3Pipeline
from tests.checks import load, transformers_load


BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32
PROMPT = "a photo of a cat"
CLASSES = {
    "text_encoder": "CLIPTextModelWithProjection",
    "text_encoder_2": "CLIPTextModelWithProjection",
    "text_encoder_3": "T5EncoderModel",
}


def raise_for_dtype_mismatch(*args):
    from diffusers.utils.torch_utils import raise_for_dtype_mismatch

    return raise_for_dtype_mismatch(*args)


def encode(pipe):
    return pipe.encode_prompt(PROMPT, None, None, do_classifier_free_guidance=False)


def pipeline(repo, dtype):
    return load(StableDiffusion3Pipeline, repo, dtype)


def first_linear(encoder):
    """The first projection each encoder runs: CLIP's first MLP layer, T5's first query projection."""
    if hasattr(encoder, "text_model"):
        return encoder.text_model.encoder.layers[0].mlp.fc1
    return encoder.encoder.block[0].layer[0].SelfAttention.q


def mix(encoder, dtype):
    """Put part of `encoder` in `dtype`, the way a partial cast leaves it: now it really holds several dtypes."""
    (encoder.text_model if hasattr(encoder, "text_model") else first_linear(encoder)).to(dtype)
    assert len({p.dtype for p in encoder.parameters()}) > 1


def raise_in_forward(module, error):
    def hook(module, args):
        raise error

    module.register_forward_pre_hook(hook)


def record_errors(module, seen, cast_input_to=None):
    """Wrap `module.forward` to record the exception it raises (optionally feeding it an input of another dtype)."""
    forward = module.forward

    def recording_forward(hidden_states, *args, **kwargs):
        if cast_input_to is not None:
            hidden_states = hidden_states.to(cast_input_to)
        try:
            return forward(hidden_states, *args, **kwargs)
        except BaseException as error:
            seen.append(error)
            raise

    module.forward = recording_forward


def torch_error(op):
    """The exception torch raises for `op` (run here, on the CPU, so its message is this torch's own)."""
    try:
        op()
    except RuntimeError as error:
        return error
    raise AssertionError("the operation did not fail")


OUT_OF_MEMORY = "CUDA out of memory. Tried to allocate 20.00 MiB. GPU 0 has a total capacity of 23.65 GiB"


# ---------------------------------------------------------------------------------- what propagates unchanged
@pytest.mark.parametrize("mixed", [False, True], ids=["uniform", "mixed"])
@pytest.mark.parametrize("name", standins.TEXT_ENCODERS)
def test_out_of_memory_propagates_as_is(sd35_repo, name, mixed):
    pipe = pipeline(sd35_repo, BF16)
    if mixed:
        mix(getattr(pipe, name), FP16)
    error = torch.OutOfMemoryError(OUT_OF_MEMORY)
    raise_in_forward(getattr(pipe, name), error)
    with pytest.raises(torch.OutOfMemoryError) as info:
        encode(pipe)
    assert info.value is error and str(error) == OUT_OF_MEMORY and error.__cause__ is None


def test_out_of_memory_reading_like_a_dtype_mismatch_propagates_as_is(sd35_repo):
    pipe = pipeline(sd35_repo, BF16)
    mix(pipe.text_encoder_2, FP16)
    message = str(torch_error(lambda: F.linear(torch.ones(2, 4, dtype=FP16), torch.ones(3, 4, dtype=BF16))))
    error = torch.OutOfMemoryError(message)
    raise_in_forward(pipe.text_encoder_2, error)
    with pytest.raises(torch.OutOfMemoryError) as info:
        encode(pipe)
    assert info.value is error and error.__cause__ is None


@pytest.mark.parametrize("name", standins.TEXT_ENCODERS)
def test_unrelated_runtime_error_from_a_mixed_encoder_propagates_as_is(sd35_repo, name):
    pipe = pipeline(sd35_repo, BF16)
    mix(getattr(pipe, name), FP16)
    error = RuntimeError(
        "Expected all tensors to be on the same device, but found at least two devices, cuda:0 and cpu!"
    )
    raise_in_forward(getattr(pipe, name), error)
    with pytest.raises(RuntimeError) as info:
        encode(pipe)
    assert info.value is error and error.__cause__ is None


@pytest.mark.parametrize("name", ["text_encoder", "text_encoder_3"])
def test_dtype_mismatch_from_an_encoder_with_uniform_parameters_propagates_as_is(sd35_repo, name):
    """A wrong-dtype input (a bug elsewhere, not the encoder's own mix) fails in torch; that error is left alone."""
    pipe = pipeline(sd35_repo, BF16)
    seen = []
    record_errors(first_linear(getattr(pipe, name)), seen, cast_input_to=FP32)
    with pytest.raises(RuntimeError) as info:
        encode(pipe)
    assert len(seen) == 1 and info.value is seen[0] and info.value.__cause__ is None
    assert "BFloat16" in str(info.value) and "several dtypes" not in str(info.value)


def test_t5_in_fp16_with_wo_in_fp32_is_not_a_mix(sd35_repo):
    pipe = pipeline(sd35_repo, FP16)
    t5 = pipe.text_encoder_3
    wo = {p.dtype for n, p in t5.named_parameters() if ".wo." in n}
    rest = {p.dtype for n, p in t5.named_parameters() if ".wo." not in n}
    assert wo == {FP32} and rest == {FP16}, "transformers keeps T5's `wo` in float32 for float16"
    seen = []
    record_errors(first_linear(t5), seen, cast_input_to=FP32)
    with pytest.raises(RuntimeError) as info:
        encode(pipe)
    assert len(seen) == 1 and info.value is seen[0] and info.value.__cause__ is None
    # The same error from a T5 that does mix dtypes is one the fork rewords: the rule, not the message, let it pass.
    mix(t5, BF16)
    with pytest.raises(RuntimeError, match="`text_encoder_3` \\(T5EncoderModel\\) holds parameters in several"):
        raise_for_dtype_mismatch(t5, "text_encoder_3", FP16, seen[0])


# ---------------------------------------------------------------------------------------- what is reworded
def assert_reworded(error, name, held, pipeline_dtype, cause):
    message = str(error)
    assert type(error) is RuntimeError and error.__cause__ is cause
    assert f"`{name}` ({CLASSES[name]}) holds parameters in several dtypes" in message
    assert all(str(dtype) in message for dtype in held)
    assert f"this pipeline runs in {pipeline_dtype}" in message
    # Load-time advice: the pipeline's dtype argument, or a dtype dict naming the component; never `.to()`.
    assert "from_pretrained(" in message and f"dtype={pipeline_dtype}" in message
    assert f'"{name}": {pipeline_dtype}' in message
    assert ".to(" not in message


def test_real_mismatch_of_a_mixed_clip_is_reworded_and_chained(sd35_repo):
    pipe = pipeline(sd35_repo, BF16)
    pipe.text_encoder_2.text_model.to(FP16)  # what transformers 4.49 left: text_model fp16, text_projection bf16
    seen = []
    record_errors(pipe.text_encoder_2.text_projection, seen)
    with pytest.raises(RuntimeError) as info:
        encode(pipe)
    assert len(seen) == 1, "torch's own error, raised in text_projection"
    assert_reworded(info.value, "text_encoder_2", (FP16, BF16), BF16, cause=seen[0])


def test_real_mismatch_of_a_mixed_t5_in_fp16_is_reworded_without_to(sd35_repo):
    pipe = pipeline(sd35_repo, FP16)
    query = first_linear(pipe.text_encoder_3)
    query.to(BF16)
    seen = []
    record_errors(query, seen)
    with pytest.raises(RuntimeError) as info:
        encode(pipe)
    assert len(seen) == 1
    assert_reworded(info.value, "text_encoder_3", (FP16, BF16), FP16, cause=seen[0])


# --------------------------------------------------------------------- raise_for_dtype_mismatch, unit by unit
def ones(*shape, dtype=FP32):
    return torch.ones(*shape, dtype=dtype)


# Each runs one op with operands in two dtypes, as a layer of a half-cast encoder would.
TORCH_MISMATCHES = {
    "linear": lambda: F.linear(ones(2, 4, dtype=FP16), ones(3, 4, dtype=BF16)),
    "sdpa-mask": lambda: F.scaled_dot_product_attention(
        ones(1, 2, 3, 4, dtype=BF16),
        ones(1, 2, 3, 4, dtype=BF16),
        ones(1, 2, 3, 4, dtype=BF16),
        ones(1, 1, 3, 3, dtype=FP16),
    ),
    "linear-3d-bias": lambda: F.linear(ones(1, 2, 4, dtype=FP16), ones(3, 4, dtype=BF16), ones(3, dtype=BF16)),
    "linear-input-fp32": lambda: F.linear(ones(2, 4), ones(3, 4, dtype=FP16)),
    "conv2d": lambda: F.conv2d(ones(1, 2, 4, 4), ones(3, 2, 1, 1, dtype=FP16)),
    "conv2d-bias": lambda: F.conv2d(ones(1, 2, 4, 4, dtype=BF16), ones(3, 2, 1, 1), ones(3)),
    "conv1d": lambda: F.conv1d(ones(1, 2, 4, dtype=BF16), ones(3, 2, 1, dtype=FP16)),
    "layer_norm": lambda: F.layer_norm(ones(2, 4, dtype=BF16), (4,), ones(4, dtype=FP16), ones(4, dtype=FP16)),
    "sdpa": lambda: F.scaled_dot_product_attention(ones(1, 2, 3, 4, dtype=FP16), ones(1, 2, 3, 4), ones(1, 2, 3, 4)),
    "bmm": lambda: torch.bmm(ones(1, 2, 3, dtype=FP16), ones(1, 3, 2, dtype=BF16)),
    # A Linear whose bias is in another dtype than its input and weight (a partial cast that missed the biases).
    "linear-bias": lambda: F.linear(ones(2, 4, dtype=BF16), ones(3, 4, dtype=BF16), ones(3)),
}


def mixed_module():
    return torch.nn.Sequential(torch.nn.Linear(4, 4).to(FP16), torch.nn.Linear(4, 4).to(BF16))


@pytest.mark.parametrize("op", TORCH_MISMATCHES)
def test_torch_mismatch_messages_are_recognized_for_a_mixed_module(op):
    error = torch_error(TORCH_MISMATCHES[op])
    with pytest.raises(RuntimeError) as info:
        raise_for_dtype_mismatch(mixed_module(), "text_encoder", BF16, error)
    assert info.value.__cause__ is error
    message = str(info.value)
    assert "`text_encoder` (Sequential) holds parameters in several dtypes" in message
    assert "torch.float16 (2 parameters, e.g. `0.weight`)" in message and "torch.bfloat16" in message


def test_torch_mismatch_from_a_uniform_module_is_left_alone():
    uniform = torch.nn.Linear(4, 4).to(BF16)
    for op in TORCH_MISMATCHES.values():
        assert raise_for_dtype_mismatch(uniform, "text_encoder", BF16, torch_error(op)) is None


def test_other_errors_of_a_mixed_module_are_left_alone():
    mismatch = str(torch_error(TORCH_MISMATCHES["linear"]))
    for error in [
        torch.OutOfMemoryError(OUT_OF_MEMORY),
        torch.OutOfMemoryError(mismatch),  # a subclass of RuntimeError, even with a matching text
        RuntimeError("CUDA error: device-side assert triggered"),
        ValueError(mismatch),
    ]:
        assert raise_for_dtype_mismatch(mixed_module(), "text_encoder", BF16, error) is None


def test_t5_kept_modules_and_fp8_layerwise_casting_are_not_a_mix(sd35_repo):
    from diffusers.hooks import apply_layerwise_casting

    error = torch_error(TORCH_MISMATCHES["linear"])
    t5 = transformers_load(T5EncoderModel, f"{sd35_repo}/text_encoder_3", FP16)
    assert {p.dtype for p in t5.parameters()} == {FP16, FP32}
    assert raise_for_dtype_mismatch(t5, "text_encoder_3", FP16, error) is None
    clip = pipeline(sd35_repo, BF16).text_encoder
    apply_layerwise_casting(clip, storage_dtype=torch.float8_e4m3fn, compute_dtype=BF16)
    assert {p.dtype for p in clip.parameters()} == {BF16, torch.float8_e4m3fn}
    assert raise_for_dtype_mismatch(clip, "text_encoder", BF16, error) is None
    # Without the hooks, the same dtypes are a mix.
    clip = pipeline(sd35_repo, BF16).text_encoder
    first_linear(clip).to(torch.float8_e4m3fn)
    with pytest.raises(RuntimeError, match="several dtypes"):
        raise_for_dtype_mismatch(clip, "text_encoder", BF16, error)
