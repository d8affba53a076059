"""Motif-Video: the T5Gemma2 text and SigLIP image conditioning reach the transformer in the transformer's dtype."""

import torch
import transformers

import diffusers

from . import Case


def _motif_video(tokenizers, image_to_video=False):
    from transformers import (
        SiglipImageProcessor, SiglipVisionConfig, T5Gemma2Encoder, T5Gemma2EncoderConfig, T5Gemma2TextConfig,
        T5TokenizerFast,
    )  # fmt: skip

    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, MotifVideoTransformer3DModel
    from diffusers.guiders import AdaptiveProjectedGuidance

    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    text_config = T5Gemma2TextConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, vocab_size=1104,
        max_position_embeddings=128, head_dim=16, num_key_value_heads=2, dropout_rate=0.0,
    )  # fmt: skip
    vision_config = None
    if image_to_video:
        vision_config = SiglipVisionConfig(
            hidden_size=4, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=16,
            patch_size=4, num_channels=3,
        )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = T5Gemma2Encoder(T5Gemma2EncoderConfig(text_config=text_config, vision_config=vision_config)).eval()
    torch.manual_seed(0)
    transformer = MotifVideoTransformer3DModel(
        in_channels=33, out_channels=16, num_attention_heads=2, attention_head_dim=12, num_layers=1,
        num_single_layers=1, mlp_ratio=4.0, patch_size=1, patch_size_t=1, qk_norm="rms_norm", text_embed_dim=32,
        rope_axes_dim=(4, 4, 4), **(dict(image_embed_dim=4) if image_to_video else {}),
    )  # fmt: skip
    feature_extractor = None
    if image_to_video:
        feature_extractor = SiglipImageProcessor(
            image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], size={"height": 16, "width": 16}
        )
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder=text_encoder, tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]),
        feature_extractor=feature_extractor, guider=AdaptiveProjectedGuidance(),
    )  # fmt: skip


def _motif_video_i2v(tokenizers):
    return _motif_video(tokenizers, image_to_video=True)


def _inputs(**kw):
    return dict(
        prompt="A test video", negative_prompt="bad quality", num_inference_steps=2, height=16, width=16,
        num_frames=9, max_sequence_length=16, output_type="pt", generator=torch.Generator().manual_seed(0), **kw,
    )  # fmt: skip


def _i2v_inputs():
    return _inputs(image=torch.rand((1, 3, 16, 16), generator=torch.Generator().manual_seed(1)))


PATCH = "motif-video-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "hidden_states", "image_embeds")
CASES = []
if hasattr(transformers, "T5Gemma2Encoder") and hasattr(diffusers, "MotifVideoPipeline"):  # transformers 5
    CASES = [
        Case("MotifVideoPipeline", PATCH, _motif_video, _inputs, "transformer", CONDITIONING),
        # the first frame is encoded by the VAE in its dtype, and by SigLIP (the text encoder's vision tower) in its
        Case("MotifVideoImage2VideoPipeline", PATCH, _motif_video_i2v, _i2v_inputs, "transformer", CONDITIONING),
    ]
