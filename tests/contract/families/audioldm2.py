"""AudioLDM2: the CLAP/T5 conditioning and the language model's output reach the UNet in the UNet's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case, tokenizer_folder


def _roberta_tokenizer(tokenizers):
    from transformers import RobertaTokenizer

    folder = tokenizer_folder(tokenizers, "roberta", hub_standins.save_roberta_tokenizer)
    return RobertaTokenizer.from_pretrained(folder, model_max_length=77)


def _audioldm2(tokenizers):
    from transformers import (
        ClapConfig, ClapFeatureExtractor, ClapModel, GPT2Config, GPT2LMHeadModel, SpeechT5HifiGan,
        SpeechT5HifiGanConfig, T5EncoderModel, T5TokenizerFast,
    )  # fmt: skip

    from diffusers import (
        AudioLDM2ProjectionModel,
        AudioLDM2UNet2DConditionModel,
        AutoencoderKL,
        DDIMScheduler,
    )

    torch.manual_seed(0)
    unet = AudioLDM2UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=8, sample_size=32, in_channels=4,
        out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=(8, 16),
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[8, 16], in_channels=1, out_channels=1, norm_num_groups=8, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )  # fmt: skip
    torch.manual_seed(0)
    text_config = dict(
        hidden_size=8, intermediate_size=37, num_attention_heads=1, num_hidden_layers=1, vocab_size=1000,
        projection_dim=8, bos_token_id=0, eos_token_id=2, pad_token_id=1,
    )  # fmt: skip
    audio_config = dict(
        spec_size=8, window_size=4, num_mel_bins=8, intermediate_size=37, depths=[1, 1], num_attention_heads=[1, 1],
        num_hidden_layers=1, hidden_size=192, projection_dim=8, patch_size=2, patch_stride=2,
        patch_embed_input_channels=4,
    )  # fmt: skip
    text_encoder = ClapModel(ClapConfig(text_config=text_config, audio_config=audio_config, projection_dim=16))
    torch.manual_seed(0)
    text_encoder_2 = T5EncoderModel(hub_standins.t5_config()).eval()
    torch.manual_seed(0)
    language_model = GPT2LMHeadModel(GPT2Config(n_embd=16, n_head=1, n_layer=1, vocab_size=1000, n_positions=99))
    language_model.config.max_new_tokens = 4
    torch.manual_seed(0)
    projection_model = AudioLDM2ProjectionModel(
        text_encoder_dim=16,
        text_encoder_1_dim=hub_standins.t5_config().d_model,
        langauge_model_dim=16,
    )
    torch.manual_seed(0)
    vocoder = SpeechT5HifiGan(
        SpeechT5HifiGanConfig(
            model_in_dim=8, sampling_rate=16000, upsample_initial_channel=16, upsample_rates=[2, 2],
            upsample_kernel_sizes=[4, 4], resblock_kernel_sizes=[3, 7], resblock_dilation_sizes=[[1, 3, 5]] * 2,
            normalize_before=False,
        )
    )  # fmt: skip
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    return dict(
        unet=unet, scheduler=scheduler, vae=vae, text_encoder=text_encoder.eval(), text_encoder_2=text_encoder_2,
        tokenizer=_roberta_tokenizer(tokenizers), tokenizer_2=T5TokenizerFast.from_pretrained(tokenizers["t5"]),
        feature_extractor=ClapFeatureExtractor(), language_model=language_model.eval(),
        projection_model=projection_model, vocoder=vocoder.eval(),
    )  # fmt: skip


def _audioldm2_inputs():
    return dict(
        prompt="A hammer hitting a wooden surface", num_inference_steps=2, guidance_scale=6.0,
        output_type="np", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "audioldm2-conditioning-in-unet-dtype.patch"
CASES = [
    Case(
        "AudioLDM2Pipeline", PATCH, _audioldm2, _audioldm2_inputs,
        conditioning=("encoder_hidden_states", "encoder_hidden_states_1"),
    ),
]  # fmt: skip
