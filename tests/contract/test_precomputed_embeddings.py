"""Embeddings passed in by the caller, in another dtype than the denoiser's, reach it in its dtype.

The families' cases (test_pipeline_families.py) mix the text encoders' dtype; this file covers what the harness calls
setup P: every module in one dtype, the prompts replaced by precomputed embeddings of another dtype. Bria already
casts the embeddings it computes; its patch casts the ones passed in too.
"""

import pytest
import torch


from .test_pipeline_families import applied_patches, tokenizer_folders


PATCH = "bria-passed-in-embeddings-in-transformer-dtype.patch"


def bria_pipeline(tokenizers, dtype):
    from transformers import T5EncoderModel, T5TokenizerFast

    from diffusers import AutoencoderKL, BriaPipeline, BriaTransformer2DModel, FlowMatchEulerDiscreteScheduler
    from forktools.upstream import hub_standins

    torch.manual_seed(0)
    transformer = BriaTransformer2DModel(
        patch_size=1, in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=8, num_attention_heads=2,
        joint_attention_dim=32, pooled_projection_dim=None, axes_dims_rope=[0, 4, 4],
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(8,), down_block_types=["DownEncoderBlock2D"], up_block_types=["UpDecoderBlock2D"],
        latent_channels=4, norm_num_groups=8, sample_size=32, shift_factor=0, scaling_factor=0.13025,
        force_upcast=False,
    )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(hub_standins.t5_config()).eval()
    pipe = BriaPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]), transformer=transformer, vae=vae,
        image_encoder=None, feature_extractor=None,
    )  # fmt: skip
    pipe.to(dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inputs(**kwargs):
    return dict(
        num_inference_steps=2, guidance_scale=5.0, height=16, width=16, max_sequence_length=16, output_type="pt",
        generator=torch.Generator().manual_seed(0), **kwargs,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    return tokenizer_folders(str(tmp_path_factory.mktemp("tokenizers")))


@pytest.mark.parametrize("passed_dtype", [torch.float32, torch.float16])
def test_bria_embeddings_passed_in_another_dtype_reach_the_transformer_in_its_dtype(tokenizers, passed_dtype):
    applied = applied_patches()
    if applied is not None and PATCH not in applied:
        pytest.skip(f"{PATCH} is not in this line's series")
    pipe = bria_pipeline(tokenizers, torch.bfloat16)
    with torch.no_grad():
        prompt_embeds, negative_prompt_embeds, _ = pipe.encode_prompt(
            "a cat", negative_prompt="bad, ugly", max_sequence_length=16
        )
    seen = []
    pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["encoder_hidden_states"].dtype), with_kwargs=True
    )
    with torch.no_grad():
        computed = pipe(prompt="a cat", negative_prompt="bad, ugly", **inputs())[0]
        passed = pipe(
            prompt_embeds=prompt_embeds.to(passed_dtype),
            negative_prompt_embeds=negative_prompt_embeds.to(passed_dtype),
            **inputs(),
        )[0]
        same_dtype = pipe(prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_prompt_embeds, **inputs())[0]
    assert set(seen) == {torch.bfloat16}
    # Embeddings in the transformer's dtype are used as they are: the same output as from the prompt, bit for bit.
    assert torch.equal(same_dtype, computed)
    # float32 holds every bfloat16 value: cast back, they are the computed embeddings exactly.
    if passed_dtype == torch.float32:
        assert torch.equal(passed, computed)
    assert torch.isfinite(passed).all()
