"""LTX-Video and Mochi: the T5 conditioning and the latents reach the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _t5(tokenizers):
    from transformers import T5EncoderModel, T5TokenizerFast

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(hub_standins.t5_config()).eval()
    return dict(text_encoder=text_encoder, tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]))


def _mochi(tokenizers):
    from diffusers import AutoencoderKLMochi, FlowMatchEulerDiscreteScheduler, MochiTransformer3DModel

    torch.manual_seed(0)
    transformer = MochiTransformer3DModel(
        patch_size=2, num_attention_heads=2, attention_head_dim=8, num_layers=1, pooled_projection_dim=16,
        in_channels=12, qk_norm="rms_norm", text_embed_dim=32, time_embed_dim=4, activation_fn="swiglu",
        max_sequence_length=16,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLMochi(
        latent_channels=12, out_channels=3, encoder_block_out_channels=(32, 32, 32, 32),
        decoder_block_out_channels=(32, 32, 32, 32), layers_per_block=(1, 1, 1, 1, 1),
    )  # fmt: skip
    return dict(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), **_t5(tokenizers))


def _ltx(tokenizers):
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, num_layers=1, caption_channels=32,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False), decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    return dict(transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), **_t5(tokenizers))


def _inputs(**kw):
    return dict(
        prompt="dance monkey", negative_prompt="", num_inference_steps=2, guidance_scale=3.0,
        max_sequence_length=16, output_type="pt", generator=torch.Generator().manual_seed(0), **kw,
    )  # fmt: skip


def _mochi_inputs():
    return _inputs(num_frames=7, height=16, width=16)


def _ltx_inputs():
    return _inputs(num_frames=9, height=32, width=32)


def _ltx_i2v_inputs():
    image = torch.rand((1, 3, 32, 32), generator=torch.Generator().manual_seed(1))
    return _inputs(num_frames=9, height=32, width=32, image=image)


PATCH = "ltx-mochi-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "hidden_states")
CASES = [
    Case("MochiPipeline", PATCH, _mochi, _mochi_inputs, "transformer", CONDITIONING),
    Case("LTXPipeline", PATCH, _ltx, _ltx_inputs, "transformer", CONDITIONING),
    # the image is encoded by the VAE in its own dtype
    Case("LTXImageToVideoPipeline", PATCH, _ltx, _ltx_i2v_inputs, "transformer", CONDITIONING),
]
