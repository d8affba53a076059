"""Stable Audio 3: the T5Gemma and duration conditioning reaches the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case, tokenizer_folder


COND_DIM = 16  # the text encoder's hidden size, the DiT's conditioning widths and the duration embedding's
# local_add_cond_dim 9: the inpainting conditioning is the mask and the 8 latent channels


def _components(tokenizers):
    from transformers import AutoTokenizer, T5GemmaConfig, T5GemmaEncoderModel

    from diffusers import (
        AutoencoderSAME,
        FlowMatchEulerDiscreteScheduler,
        StableAudio3DiTModel,
        StableAudio3DurationEmbedder,
    )

    torch.manual_seed(0)
    transformer = StableAudio3DiTModel(
        io_channels=8, patch_size=1, embed_dim=32, depth=2, num_heads=4, cond_token_dim=COND_DIM,
        global_cond_dim=COND_DIM, local_add_cond_dim=9, timestep_features_dim=16, ff_mult=2, num_memory_tokens=3,
        use_differential_attention=False,
    )  # fmt: skip
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1, shift=1.0, stochastic_sampling=False)
    torch.manual_seed(0)
    vae = AutoencoderSAME(
        audio_channels=2, patch_size=2, encoder_channels=8, encoder_c_mults=(2,), encoder_strides=(2,),
        encoder_transformer_depths=(1,), latent_dim=8, use_differential_attention=False, dim_heads=4, ff_mult=2,
        sampling_rate=16,
    )  # fmt: skip
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder(tokenizers, "gemma", hub_standins.save_gemma_tokenizer))
    torch.manual_seed(0)
    encoder = dict(
        vocab_size=tokenizer.vocab_size, hidden_size=COND_DIM, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=64, sliding_window=64,
        layer_types=["full_attention", "full_attention"],
    )  # fmt: skip
    text_encoder = T5GemmaEncoderModel(T5GemmaConfig(encoder=encoder, decoder=encoder, is_encoder_decoder=False))
    torch.manual_seed(0)
    duration_embedder = StableAudio3DurationEmbedder(output_dim=COND_DIM, fourier_dim=16)
    return dict(
        transformer=transformer, scheduler=scheduler, vae=vae, text_encoder=text_encoder.eval(), tokenizer=tokenizer,
        duration_embedder=duration_embedder,
    )  # fmt: skip


def _inputs():
    return dict(
        prompt="a hammer hitting a wooden surface", negative_prompt="low quality", guidance_scale=2.0, duration=1.0,
        num_inference_steps=2, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _audio_to_audio_inputs():
    audio = torch.randn(1, 2, 16, generator=torch.Generator().manual_seed(1))  # 1 s at the VAE's 16 Hz
    return dict(
        prompt="a hammer hitting a wooden surface", audio=audio, init_noise_level=0.5, duration=1.0,
        num_inference_steps=2, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _inpaint_inputs():
    inputs = _audio_to_audio_inputs()
    del inputs["init_noise_level"]
    return dict(inputs, mask_start_seconds=0.25, mask_end_seconds=0.75)


PATCH = "stable-audio-3-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "global_hidden_states", "local_add_cond")
CASES = (
    [
        Case("StableAudio3Pipeline", PATCH, _components, _inputs, "transformer", CONDITIONING),
        Case(
            "StableAudio3AudioToAudioPipeline", PATCH, _components, _audio_to_audio_inputs, "transformer", CONDITIONING
        ),
        Case(
            "StableAudio3InpaintPipeline",
            PATCH,
            _components,
            _inpaint_inputs,
            "transformer",
            CONDITIONING,
        ),
    ]
    if hub_standins.transformers_5()
    else []
)
