"""Stable Diffusion XL and the pipelines built on its `encode_prompt`."""

import torch

from forktools.upstream import hub_standins

from . import Case
from .sd import _image, _img2img, _text2img


def _sdxl(tokenizers):
    return hub_standins.sdxl_components(tokenizers["clip"])


def _controlnet(tokenizers):
    from diffusers import ControlNetModel

    components = _sdxl(tokenizers)
    torch.manual_seed(0)
    components["controlnet"] = ControlNetModel(
        block_out_channels=(2, 4), layers_per_block=2, in_channels=4, norm_num_groups=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), conditioning_embedding_out_channels=(16, 32),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=64,
    )  # fmt: skip
    return components


def _controlnet_inputs():
    return dict(_text2img(), image=_image())


PATCH = "sdxl-conditioning-in-unet-dtype.patch"
CASES = [
    Case("StableDiffusionXLPipeline", PATCH, _sdxl, _text2img),
    Case("StableDiffusionXLImg2ImgPipeline", PATCH, _sdxl, _img2img),
    Case("StableDiffusionXLControlNetPipeline", PATCH, _controlnet, _controlnet_inputs),
]
