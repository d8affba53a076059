"""Kandinsky 2.1 (decoder), 2.2 (prior) and 3: the conditioning reaches the prior and the UNet in their dtypes."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _movq():
    from diffusers import VQModel

    torch.manual_seed(0)
    return VQModel(
        block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"], in_channels=3,
        latent_channels=4, layers_per_block=1, norm_num_groups=8, norm_type="spatial", num_vq_embeddings=12,
        out_channels=3, up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"], vq_embed_dim=4,
    )  # fmt: skip


def _kandinsky(tokenizers):
    from transformers import CLIPTokenizer

    from diffusers import DDIMScheduler, UNet2DConditionModel
    from diffusers.pipelines.kandinsky.text_encoder import MCLIPConfig, MultilingualCLIP

    torch.manual_seed(0)
    text_encoder = MultilingualCLIP(
        MCLIPConfig(
            numDims=32,
            transformerDimensions=32,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=hub_standins.CLIP_VOCAB_SIZE,
        )  # fmt: skip
    ).eval()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        in_channels=4, out_channels=8, addition_embed_type="text_image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64), layers_per_block=1,
        encoder_hid_dim=32, encoder_hid_dim_type="text_image_proj", cross_attention_dim=32, attention_head_dim=4,
        resnet_time_scale_shift="scale_shift", class_embed_type=None,
    )  # fmt: skip
    scheduler = DDIMScheduler(
        num_train_timesteps=1000, beta_schedule="linear", beta_start=0.00085, beta_end=0.012, clip_sample=False,
        set_alpha_to_one=False, steps_offset=1, prediction_type="epsilon", thresholding=False,
    )  # fmt: skip
    tokenizer = CLIPTokenizer.from_pretrained(tokenizers["clip"])
    return dict(text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler, movq=_movq())


def _kandinsky_inputs():
    generator = torch.Generator().manual_seed(0)
    image_embeds = torch.randn(1, 32, generator=generator)
    negative_image_embeds = torch.randn(1, 32, generator=generator)
    return dict(
        prompt="a photo of a cat", image_embeds=image_embeds, negative_image_embeds=negative_image_embeds,
        height=32, width=32, num_inference_steps=2, output_type="pt", generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _prior_v22(tokenizers):
    from transformers import (
        CLIPImageProcessor,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    from diffusers import PriorTransformer, UnCLIPScheduler

    torch.manual_seed(0)
    prior = PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=1)
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))
    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            image_size=28,
            projection_dim=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_channels=3,
            num_hidden_layers=2,
            patch_size=14,
        )  # fmt: skip
    ).eval()
    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(hub_standins.clip_text_config(projection_dim=32)).eval()
    scheduler = UnCLIPScheduler(
        variance_type="fixed_small_log", prediction_type="sample", num_train_timesteps=1000, clip_sample=True,
        clip_sample_range=10.0,
    )  # fmt: skip
    return dict(
        prior=prior, image_encoder=image_encoder, text_encoder=text_encoder,
        tokenizer=CLIPTokenizer.from_pretrained(tokenizers["clip"]), scheduler=scheduler,
        image_processor=CLIPImageProcessor(crop_size=28, size=28),
    )  # fmt: skip


def _prior_inputs():
    return dict(
        prompt="a photo of a cat", guidance_scale=4.0, num_inference_steps=2, output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _kandinsky3(tokenizers):
    from transformers import T5EncoderModel, T5TokenizerFast

    from diffusers import DDPMScheduler, Kandinsky3UNet

    torch.manual_seed(0)
    unet = Kandinsky3UNet(
        in_channels=4, time_embedding_dim=4, groups=2, attention_head_dim=4, layers_per_block=3,
        block_out_channels=(32, 64), cross_attention_dim=4, encoder_hid_dim=32,
    )  # fmt: skip
    scheduler = DDPMScheduler(
        beta_start=0.00085, beta_end=0.012, steps_offset=1, beta_schedule="squaredcos_cap_v2", clip_sample=True,
        thresholding=False,
    )  # fmt: skip
    torch.manual_seed(0)
    text_encoder = T5EncoderModel(hub_standins.t5_config()).eval()
    tokenizer = T5TokenizerFast.from_pretrained(tokenizers["t5"])
    return dict(unet=unet, scheduler=scheduler, movq=_movq(), text_encoder=text_encoder, tokenizer=tokenizer)


def _kandinsky3_inputs():
    return dict(
        prompt="a photo of a cat", guidance_scale=6.0, num_inference_steps=2, height=16, width=16, output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "kandinsky-conditioning-in-denoiser-dtype.patch"
CASES = [
    Case("KandinskyPipeline", PATCH, _kandinsky, _kandinsky_inputs),
    Case(
        "KandinskyV22PriorPipeline",
        PATCH,
        _prior_v22,
        _prior_inputs,
        denoiser="prior",
        conditioning=("proj_embedding", "encoder_hidden_states"),
    ),  # fmt: skip
    Case("Kandinsky3Pipeline", PATCH, _kandinsky3, _kandinsky3_inputs, conditioning=("encoder_hidden_states",)),
]
