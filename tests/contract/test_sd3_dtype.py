"""The SD3 precision contract, on tiny offline pipelines stored in the SD3.5 dtype layout: every text encoder follows
the pipeline's dtype at load time, and `encode_prompt` hands the transformer one dtype at encode time.

The scenario matrix of `make compare`: every test here fails on pristine upstream (on one line or another).
"""

import glob
import inspect
import os

import numpy as np
import pytest
import torch
from safetensors import safe_open
from transformers import CLIPTextModelWithProjection

from forktools import standins
from diffusers import (
    SD3ControlNetModel,
    StableDiffusion3ControlNetInpaintingPipeline,
    StableDiffusion3ControlNetPipeline,
    StableDiffusion3Img2ImgPipeline,
    StableDiffusion3InpaintPipeline,
    StableDiffusion3PAGImg2ImgPipeline,
    StableDiffusion3PAGPipeline,
    StableDiffusion3Pipeline,
)
from tests.checks import DTYPE_KWARG, assert_module_dtype, load


BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32
PROMPT = "a photo of a cat"
TEXT_ENCODERS = standins.TEXT_ENCODERS


@pytest.fixture(scope="module")
def fp32_repo(tmp_path_factory):
    """The same tiny pipeline with every component stored in float32."""
    layout = dict.fromkeys(standins.SD35_LAYOUT, FP32)
    return standins.save_pipeline(str(tmp_path_factory.mktemp("sd3-fp32")), layout=layout)


def encode(pipe, **kwargs):
    return pipe.encode_prompt(PROMPT, None, None, do_classifier_free_guidance=True, **kwargs)


def generate(pipe, **kwargs):
    kwargs.setdefault("num_inference_steps", 2)
    image = pipe(
        PROMPT if "prompt_embeds" not in kwargs else None,
        height=32,
        width=32,
        output_type="np",
        generator=torch.Generator().manual_seed(0),
        **kwargs,
    ).images
    assert image.shape[-3:] == (32, 32, 3)
    assert np.isfinite(image).all()
    return image


def components(repo, layout):
    """Components of the tiny pipeline at `repo`, each loaded in `layout[name]` (float32 when not named)."""
    pipe = load(StableDiffusion3Pipeline, repo, dict(layout, default=FP32))
    return dict(pipe.components)


def stored_dtype(folder):
    path = sorted(glob.glob(os.path.join(folder, "*.safetensors")))[0]
    with safe_open(path, framework="pt") as f:
        return f.get_tensor(next(iter(f.keys()))).dtype


@pytest.fixture
def legacy_clip_loader(monkeypatch):
    """Simulate transformers 4.49's loader: `text_model` stays in the checkpoint's dtype, `text_projection` does not."""
    original = CLIPTextModelWithProjection.from_pretrained.__func__

    def from_pretrained(cls, path, *args, **kwargs):
        model = original(cls, path, *args, **kwargs)
        model.text_model.to(stored_dtype(path))
        return model

    monkeypatch.setattr(CLIPTextModelWithProjection, "from_pretrained", classmethod(from_pretrained))


# ------------------------------------------------------------------------------------------------- load time
@pytest.mark.parametrize(
    "dtype,stored", [(BF16, "sd35"), (FP32, "sd35"), (FP16, "fp32")], ids=["bf16", "fp32", "fp16"]
)
def test_issue_11117_legacy_loader_is_repaired(legacy_clip_loader, sd35_repo, fp32_repo, dtype, stored):
    repo = sd35_repo if stored == "sd35" else fp32_repo
    pipe = load(StableDiffusion3Pipeline, repo, dtype)
    generate(pipe)
    for name in TEXT_ENCODERS:
        assert_module_dtype(getattr(pipe, name), dtype, name)
    assert {t.dtype for t in encode(pipe)} == {dtype}


def test_default_load_without_dtype_follows_diffusers_fp32(sd35_repo):
    pipe = load(StableDiffusion3Pipeline, sd35_repo)
    generate(pipe)
    for name in (*TEXT_ENCODERS, "transformer", "vae"):
        assert_module_dtype(getattr(pipe, name), FP32, name)
    assert {t.dtype for t in encode(pipe)} == {FP32}


@pytest.mark.parametrize(
    "layout",
    [
        {"text_encoder_3": FP32, "default": BF16},
        {"transformer": BF16, "vae": BF16, "default": FP32},
        {"text_encoder": FP16, "text_encoder_2": FP16, "text_encoder_3": FP32, "default": BF16},
    ],
    ids=["t5-fp32-rest-bf16", "text-encoders-fp32-transformer-bf16", "clip-fp16-t5-fp32-transformer-bf16"],
)
def test_dtype_dict(sd35_repo, layout):
    pipe = load(StableDiffusion3Pipeline, sd35_repo, layout)
    generate(pipe)
    for name in (*TEXT_ENCODERS, "transformer", "vae"):
        assert_module_dtype(getattr(pipe, name), layout.get(name, layout["default"]), name)
    expected = layout.get("transformer", layout["default"])
    assert {t.dtype for t in encode(pipe)} == {expected}


def test_dtype_given_as_string_and_torch_dtype(sd35_repo):
    pipe = load(StableDiffusion3Pipeline, sd35_repo, "bfloat16")
    assert_module_dtype(pipe.text_encoder_2, BF16, "text_encoder_2")
    assert_module_dtype(pipe.transformer, BF16, "transformer")
    pipe = load(StableDiffusion3Pipeline, sd35_repo, "torch.float16")
    assert_module_dtype(pipe.text_encoder_3, FP16, "text_encoder_3")
    pipe = load(StableDiffusion3Pipeline, sd35_repo, {"text_encoder": "fp32", "default": "bf16"})
    assert_module_dtype(pipe.text_encoder, FP32, "text_encoder")
    assert_module_dtype(pipe.transformer, BF16, "transformer")


@pytest.mark.parametrize(
    "dtype,named", [("int8", ""), (torch.int64, ""), ("float42", ""), ({"text_encoder": torch.uint8}, "text_encoder")]
)
def test_bad_dtype_is_a_clear_error(sd35_repo, dtype, named):
    target = f" for `{named}`" if named else ""
    with pytest.raises(ValueError, match=rf"`{DTYPE_KWARG}`{target} must be a floating point `torch.dtype`.*but got"):
        load(StableDiffusion3Pipeline, sd35_repo, dtype)


def test_repair_casts_parameters_in_place_and_keeps_fp32_modules(sd35_repo):
    from diffusers.pipelines.pipeline_loading_utils import _repair_partial_dtype_cast

    pipe = load(StableDiffusion3Pipeline, sd35_repo, FP32)
    t5 = pipe.text_encoder_3
    params = dict(t5.named_parameters())
    _repair_partial_dtype_cast(t5, FP16, "text_encoder_3")
    # The same Parameter objects, now holding float16 data: no second model was built.
    assert all(p is params[n] for n, p in t5.named_parameters())
    assert_module_dtype(t5, FP16, "text_encoder_3")
    assert any(p.dtype == FP32 for n, p in t5.named_parameters() if "wo" in n.split("."))


def test_repair_leaves_quantized_models_alone(sd35_repo):
    from diffusers.pipelines.pipeline_loading_utils import _repair_partial_dtype_cast

    t5 = load(StableDiffusion3Pipeline, sd35_repo, FP32).text_encoder_3
    t5.hf_quantizer = object()  # what transformers sets on a quantized model (bitsandbytes, torchao, ...)
    _repair_partial_dtype_cast(t5, BF16, "text_encoder_3")
    assert {p.dtype for p in t5.parameters()} == {FP32}


def test_repair_keeps_device_map(legacy_clip_loader, sd35_repo):
    pipe = load(StableDiffusion3Pipeline, sd35_repo, BF16, device_map="cpu")
    generate(pipe)
    assert pipe.hf_device_map == "cpu"
    for name in TEXT_ENCODERS:
        assert_module_dtype(getattr(pipe, name), BF16, name)
        assert {p.device.type for p in getattr(pipe, name).parameters()} == {"cpu"}


def test_modules_passed_in_are_never_changed(sd35_repo):
    parts = components(sd35_repo, {"text_encoder": FP16, "text_encoder_3": FP32, "transformer": BF16, "vae": BF16})
    passed = {name: parts.pop(name) for name in ("text_encoder", "text_encoder_3")}
    pipe = load(StableDiffusion3Pipeline, sd35_repo, BF16, **passed)
    assert pipe.text_encoder is passed["text_encoder"] and pipe.text_encoder_3 is passed["text_encoder_3"]
    assert_module_dtype(pipe.text_encoder, FP16, "text_encoder")
    assert_module_dtype(pipe.text_encoder_3, FP32, "text_encoder_3")
    assert_module_dtype(pipe.text_encoder_2, BF16, "text_encoder_2")
    generate(pipe)
    assert {t.dtype for t in encode(pipe)} == {BF16}


# ------------------------------------------------------------------------------------------------ encode time
def test_encode_prompt_dtype_argument_and_fallback_without_transformer(sd35_repo):
    parts = components(sd35_repo, {"text_encoder": BF16, "text_encoder_2": BF16, "text_encoder_3": FP32})
    pipe = StableDiffusion3Pipeline(**parts)
    assert {t.dtype for t in encode(pipe, dtype=FP16)} == {FP16}
    # Without a transformer: CLIP-L's dtype, whatever T5 runs in (as the modular SD3 pipeline does).
    pipe = StableDiffusion3Pipeline(**dict(parts, transformer=None))
    assert {t.dtype for t in encode(pipe)} == {BF16}


def test_precomputed_embeddings_of_another_dtype(sd35_repo):
    reference = load(StableDiffusion3Pipeline, sd35_repo, FP32)
    embeds = encode(reference)
    assert {t.dtype for t in embeds} == {FP32}
    pipe = load(StableDiffusion3Pipeline, sd35_repo, BF16)
    seen = {}

    def spy(module, args, kwargs):
        seen["hidden"], seen["context"] = kwargs["hidden_states"].dtype, kwargs["encoder_hidden_states"].dtype

    pipe.transformer.register_forward_pre_hook(spy, with_kwargs=True)
    generate(
        pipe,
        prompt_embeds=embeds[0],
        negative_prompt_embeds=embeds[1],
        pooled_prompt_embeds=embeds[2],
        negative_pooled_prompt_embeds=embeds[3],
    )
    assert seen == {"hidden": BF16, "context": BF16}


def test_no_t5_returns_zeros_in_the_transformer_dtype(sd35_repo):
    parts = components(sd35_repo, {"text_encoder": FP16, "text_encoder_2": FP16, "transformer": BF16, "vae": BF16})
    pipe = StableDiffusion3Pipeline(**dict(parts, text_encoder_3=None, tokenizer_3=None))
    generate(pipe)
    prompt_embeds, negative, pooled, negative_pooled = encode(pipe)
    assert {t.dtype for t in (prompt_embeds, negative, pooled, negative_pooled)} == {BF16}
    clip_tokens = pipe.tokenizer_max_length
    assert torch.count_nonzero(prompt_embeds[:, clip_tokens:]) == 0


def cosine(a, b):
    return torch.nn.functional.cosine_similarity(a.float().flatten(), b.float().flatten(), dim=0).item()


@pytest.mark.parametrize("half", [BF16, FP16], ids=["bf16", "fp16"])
def test_mixed_setup_matches_uniform_within_rounding(sd35_repo, half):
    reference = [t.float() for t in encode(load(StableDiffusion3Pipeline, sd35_repo, FP32))]
    uniform = encode(load(StableDiffusion3Pipeline, sd35_repo, half))
    mixed = encode(load(StableDiffusion3Pipeline, sd35_repo, {"text_encoder_3": FP32, "default": half}))
    for ref, uni, mix in zip(reference, uniform, mixed):
        assert uni.dtype == mix.dtype == half
        assert torch.isfinite(mix).all() and torch.isfinite(uni).all()
        # Rounding only: both agree with the fp32 reference, and with each other, far beyond chance.
        assert cosine(mix, ref) > 0.999 and cosine(uni, ref) > 0.999
        assert cosine(mix, uni) > 0.999
        tolerance = 2 * torch.finfo(half).eps * ref.abs().max().item() * 8
        assert (mix.float() - ref).abs().max().item() <= tolerance


def test_mixed_dtype_text_encoder_error_names_component(sd35_repo):
    parts = components(sd35_repo, {name: BF16 for name in (*TEXT_ENCODERS, "transformer", "vae")})
    parts["text_encoder_2"].text_model.to(FP16)  # what transformers 4.49 produced, passed in by the user
    pipe = StableDiffusion3Pipeline(**parts)
    with pytest.raises(RuntimeError) as info:
        generate(pipe)
    message = str(info.value)
    assert "`text_encoder_2` (CLIPTextModelWithProjection)" in message
    assert "torch.float16" in message and "torch.bfloat16" in message
    assert "this pipeline runs in torch.bfloat16" in message and ".to(" not in message


# --------------------------------------------------------------------------------------------- every pipeline
MIXED = {"text_encoder": FP32, "text_encoder_2": FP16, "text_encoder_3": FP32, "transformer": BF16, "vae": FP32}


def tiny_controlnet(transformer, extra_conditioning_channels=0):
    config = transformer.config
    torch.manual_seed(0)
    return SD3ControlNetModel(
        sample_size=config.sample_size,
        patch_size=config.patch_size,
        in_channels=config.in_channels,
        num_layers=1,
        attention_head_dim=config.attention_head_dim,
        num_attention_heads=config.num_attention_heads,
        joint_attention_dim=config.joint_attention_dim,
        caption_projection_dim=config.caption_projection_dim,
        pooled_projection_dim=config.pooled_projection_dim,
        out_channels=config.out_channels,
        pos_embed_max_size=config.pos_embed_max_size,
        extra_conditioning_channels=extra_conditioning_channels,
    ).to(transformer.dtype)


def image_input():
    return torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1))


def mask_input():
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., 8:24, 8:24] = 1.0
    return mask


PIPELINES = {
    "sd3": (StableDiffusion3Pipeline, lambda parts: {}, {}),
    "img2img": (StableDiffusion3Img2ImgPipeline, lambda parts: {}, {"image": image_input(), "strength": 0.8}),
    "inpaint": (
        StableDiffusion3InpaintPipeline,
        lambda parts: {},
        {"image": image_input(), "mask_image": mask_input(), "strength": 0.8},
    ),
    "controlnet": (
        StableDiffusion3ControlNetPipeline,
        lambda parts: {"controlnet": tiny_controlnet(parts["transformer"])},
        {"control_image": image_input()},
    ),
    "controlnet-inpainting": (
        StableDiffusion3ControlNetInpaintingPipeline,
        lambda parts: {"controlnet": tiny_controlnet(parts["transformer"], extra_conditioning_channels=1)},
        {"control_image": image_input(), "control_mask": mask_input()},
    ),
    "pag": (StableDiffusion3PAGPipeline, lambda parts: {"pag_applied_layers": ["blocks.0"]}, {"pag_scale": 2.0}),
    "pag-img2img": (
        StableDiffusion3PAGImg2ImgPipeline,
        lambda parts: {"pag_applied_layers": ["blocks.0"]},
        {"pag_scale": 2.0, "image": image_input(), "strength": 0.8},
    ),
}


@pytest.mark.parametrize("kind", sorted(PIPELINES))
def test_every_sd3_pipeline_runs_mixed(sd35_repo, kind):
    cls, extra_components, call_kwargs = PIPELINES[kind]
    parts = components(sd35_repo, MIXED)
    parts.update(extra_components(parts))
    accepted = inspect.signature(cls.__init__).parameters
    pipe = cls(**{name: value for name, value in parts.items() if name in accepted})
    generate(pipe, num_inference_steps=3, **call_kwargs)
    assert {t.dtype for t in encode(pipe)} == {BF16}


@pytest.mark.parametrize("kind", ["img2img", "inpaint", "controlnet", "controlnet-inpainting", "pag-img2img"])
def test_vae_encodes_pixels_not_rounded_through_the_transformer_dtype(sd35_repo, kind):
    # A float32 VAE beside a bfloat16 transformer (and ControlNet) encodes the float32 pixels it was given.
    cls, extra_components, call_kwargs = PIPELINES[kind]
    parts = components(sd35_repo, MIXED)
    parts.update(extra_components(parts))
    if "controlnet" in parts:
        parts["controlnet"].to(BF16)
    accepted = inspect.signature(cls.__init__).parameters
    pipe = cls(**{name: value for name, value in parts.items() if name in accepted})
    inputs = []
    pipe.vae.encoder.register_forward_pre_hook(lambda module, args: inputs.append(args[0]))
    generate(pipe, **call_kwargs)
    assert inputs, f"{kind}: the VAE encoded nothing"
    for pixels in inputs:
        assert pixels.dtype == FP32
        assert not torch.equal(pixels, pixels.to(BF16).to(FP32)), f"{kind}: pixels rounded to bfloat16"


def test_modular_sd3_pipeline_runs_mixed(sd35_repo):
    from diffusers.modular_pipelines import StableDiffusion3AutoBlocks

    parts = components(sd35_repo, MIXED)
    pipe = StableDiffusion3AutoBlocks().init_pipeline()
    pipe.update_components(**{k: v for k, v in parts.items() if v is not None})
    seen = {}
    pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.update(
            context=kwargs["encoder_hidden_states"].dtype, pooled=kwargs["pooled_projections"].dtype
        ),
        with_kwargs=True,
    )
    image = pipe(
        prompt=PROMPT,
        negative_prompt="",
        num_inference_steps=2,
        height=32,
        width=32,
        generator=torch.Generator().manual_seed(0),
        output="images",
        output_type="np",
    )
    assert image.shape[-3:] == (32, 32, 3) and np.isfinite(image).all()
    assert seen == {"context": BF16, "pooled": BF16}
