"""DeepFloyd IF: the T5 conditioning reaches the UNet in the UNet's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _if(tokenizers):
    from transformers import T5EncoderModel, T5TokenizerFast

    from diffusers import DDPMScheduler, UNet2DConditionModel
    from diffusers.models.attention_processor import AttnAddedKVProcessor

    torch.manual_seed(0)
    text_encoder = T5EncoderModel(hub_standins.t5_config()).eval()
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=16, layers_per_block=1, block_out_channels=[32, 64],
        down_block_types=["ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"],
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", up_block_types=["SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"],
        in_channels=3, out_channels=6, cross_attention_dim=32, encoder_hid_dim=32, attention_head_dim=8,
        addition_embed_type="text", addition_embed_type_num_heads=2, cross_attention_norm="group_norm",
        resnet_time_scale_shift="scale_shift", act_fn="gelu",
    )  # fmt: skip
    unet.set_attn_processor(AttnAddedKVProcessor())
    scheduler = DDPMScheduler(
        num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", beta_start=0.0001, beta_end=0.02,
        thresholding=True, dynamic_thresholding_ratio=0.95, sample_max_value=1.0, prediction_type="epsilon",
        variance_type="learned_range",
    )  # fmt: skip
    return dict(
        text_encoder=text_encoder, tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]), unet=unet,
        scheduler=scheduler, watermarker=None, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )  # fmt: skip


def _if_inputs():
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, height=16, width=16, output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "deepfloyd-if-conditioning-in-unet-dtype.patch"
CASES = [
    Case("IFPipeline", PATCH, _if, _if_inputs),
]
