"""CogVideoX and CogView3-Plus: the T5 conditioning, micro-conditions and latents reach the transformer in its dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _t5(tokenizers):
    from transformers import T5EncoderModel, T5TokenizerFast

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(hub_standins.t5_config()).eval()
    return dict(text_encoder=text_encoder, tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]))


def _cogvideox(tokenizers, image_to_video=False):
    from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel, DDIMScheduler

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8 if image_to_video else 4, out_channels=4,
        time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2, sample_frames=9,
        patch_size=2, temporal_compression_ratio=4, max_text_seq_length=16,
        use_rotary_positional_embeddings=image_to_video, use_learned_positional_embeddings=image_to_video,
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
        temporal_compression_ratio=4,
    )  # fmt: skip
    return dict(transformer=transformer, vae=vae, scheduler=DDIMScheduler(), **_t5(tokenizers))


def _cogvideox_i2v(tokenizers):
    return _cogvideox(tokenizers, image_to_video=True)


def _cogview3plus(tokenizers):
    from diffusers import CogVideoXDDIMScheduler, CogView3PlusTransformer2DModel

    torch.manual_seed(0)
    transformer = CogView3PlusTransformer2DModel(
        patch_size=2, in_channels=4, num_layers=1, attention_head_dim=4, num_attention_heads=2, out_channels=4,
        text_embed_dim=32, time_embed_dim=8, condition_dim=2, pos_embed_max_size=8, sample_size=8,
    )  # fmt: skip
    vae = hub_standins.tiny_sd_vae()
    return dict(transformer=transformer, vae=vae, scheduler=CogVideoXDDIMScheduler(), **_t5(tokenizers))


def _inputs(**kw):
    return dict(
        prompt="dance monkey", negative_prompt="", num_inference_steps=2, guidance_scale=6.0, height=16, width=16,
        max_sequence_length=16, output_type="pt", generator=torch.Generator().manual_seed(0), **kw,
    )  # fmt: skip


def _cogvideox_inputs():
    return _inputs(num_frames=8)


def _cogvideox_i2v_inputs():
    image = torch.rand((1, 3, 16, 16), generator=torch.Generator().manual_seed(1))
    return _inputs(num_frames=8, image=image)


PATCH = "cogvideox-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "hidden_states")
CASES = [
    Case("CogVideoXPipeline", PATCH, _cogvideox, _cogvideox_inputs, "transformer", CONDITIONING),
    # the image is encoded by the VAE in its own dtype; its latents join the latents in the transformer's dtype
    Case("CogVideoXImageToVideoPipeline", PATCH, _cogvideox_i2v, _cogvideox_i2v_inputs, "transformer", CONDITIONING),
    Case(
        "CogView3PlusPipeline",
        PATCH,
        _cogview3plus,
        _inputs,
        "transformer",
        (*CONDITIONING, "original_size", "target_size", "crop_coords"),
    ),  # fmt: skip
]
