"""Stable Diffusion 1.x/2.x and the pipelines built on its `encode_prompt`."""

import numpy as np
import PIL.Image
import torch

from forktools.upstream import hub_standins

from . import Case


def _sd(tokenizers):
    components = hub_standins.sd_components(tokenizers["clip"])
    components["safety_checker"] = None  # a safety checker runs in its own dtype; kept out of these cases
    components["requires_safety_checker"] = False
    return components


def _controlnet(tokenizers):
    from diffusers import ControlNetModel

    components = _sd(tokenizers)
    torch.manual_seed(0)
    components["controlnet"] = ControlNetModel(
        block_out_channels=(32, 64), layers_per_block=2, in_channels=4, cross_attention_dim=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), conditioning_embedding_out_channels=(16, 32),
    )  # fmt: skip
    return components


def _image(size=64):
    rng = np.random.default_rng(0)
    return PIL.Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))


def _text2img():
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, height=64, width=64, output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _img2img():
    return dict(
        prompt="a photo of a cat", image=_image(), strength=0.75, num_inference_steps=2, output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _inpaint():
    mask = PIL.Image.fromarray(np.tile(np.arange(64, dtype=np.uint8)[None, :] * 4, (64, 1)))
    return dict(_img2img(), mask_image=mask, height=64, width=64)


def _controlnet_inputs():
    return dict(_text2img(), image=_image())


PATCH = "sd-conditioning-in-unet-dtype.patch"
CASES = [
    Case("StableDiffusionPipeline", PATCH, _sd, _text2img),
    Case("StableDiffusionImg2ImgPipeline", PATCH, _sd, _img2img),
    Case("StableDiffusionInpaintPipeline", PATCH, _sd, _inpaint),
    Case("StableDiffusionControlNetPipeline", PATCH, _controlnet, _controlnet_inputs),
]
