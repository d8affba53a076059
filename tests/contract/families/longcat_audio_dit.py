"""LongCat audio DiT: the UMT5 conditioning reaches the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _longcat_audio(tokenizers):
    from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

    from diffusers import LongCatAudioDiTTransformer, LongCatAudioDiTVae

    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(d_model=32, num_layers=1, num_heads=4, d_ff=64, vocab_size=hub_standins.T5_VOCAB_SIZE)
    ).eval()
    torch.manual_seed(0)
    transformer = LongCatAudioDiTTransformer(
        dit_dim=64, dit_depth=1, dit_heads=4, dit_text_dim=32, latent_dim=8, text_conv=False
    )
    torch.manual_seed(0)
    vae = LongCatAudioDiTVae(
        in_channels=1, channels=16, c_mults=[1, 2], strides=[2], latent_dim=8, encoder_latent_dim=16,
        downsampling_ratio=2, sample_rate=24000,
    )  # fmt: skip
    return dict(
        vae=vae, text_encoder=text_encoder, tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]),
        transformer=transformer,
    )  # fmt: skip


def _longcat_audio_inputs():
    return dict(
        prompt="soft ocean ambience", negative_prompt="noise", audio_duration_s=0.1, num_inference_steps=2,
        guidance_scale=2.0, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "longcat-audio-dit-conditioning-in-transformer-dtype.patch"
CASES = [
    Case(
        "LongCatAudioDiTPipeline",
        PATCH,
        _longcat_audio,
        _longcat_audio_inputs,
        denoiser="transformer",
        conditioning=("encoder_hidden_states",),
    ),
]
