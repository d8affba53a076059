"""Stable Audio: the T5 and seconds conditioning, projected, reaches the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _stable_audio(tokenizers):
    from transformers import T5EncoderModel, T5TokenizerFast

    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioProjectionModel,
    )

    torch.manual_seed(0)
    transformer = StableAudioDiTModel(
        sample_size=4, in_channels=3, num_layers=1, attention_head_dim=4, num_key_value_attention_heads=2,
        out_channels=3, cross_attention_dim=4, time_proj_dim=8, global_states_input_dim=8,
        cross_attention_input_dim=4,
    )  # fmt: skip
    scheduler = CosineDPMSolverMultistepScheduler(
        solver_order=2, prediction_type="v_prediction", sigma_data=1.0, sigma_schedule="exponential"
    )
    torch.manual_seed(0)
    vae = AutoencoderOobleck(
        encoder_hidden_size=6, downsampling_ratios=[1, 2], decoder_channels=3, decoder_input_channels=3,
        audio_channels=2, channel_multiples=[2, 4], sampling_rate=4,
    )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(hub_standins.t5_config()).eval()
    tokenizer = T5TokenizerFast.from_pretrained(tokenizers["t5"], model_max_length=16)
    torch.manual_seed(0)
    projection_model = StableAudioProjectionModel(
        text_encoder_dim=text_encoder.config.d_model, conditioning_dim=4, min_value=0, max_value=32
    )
    return dict(
        transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
        projection_model=projection_model,
    )  # fmt: skip


def _stable_audio_inputs():
    return dict(
        prompt="a hammer hitting a wooden surface", negative_prompt="low quality", num_inference_steps=2,
        guidance_scale=6.0, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "stable-audio-conditioning-in-transformer-dtype.patch"
CASES = [
    Case(
        "StableAudioPipeline",
        PATCH,
        _stable_audio,
        _stable_audio_inputs,
        denoiser="transformer",
        conditioning=("encoder_hidden_states", "global_hidden_states"),
    ),
]
