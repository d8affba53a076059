"""Modular Flux: the T5 and pooled CLIP conditioning reaches the transformer in the transformer's dtype."""

import numpy as np
import PIL.Image

from . import Case, modular_blocks
from .flux import CONDITIONING, _flux, _inputs


def _image_processor():
    from diffusers.image_processor import VaeImageProcessor

    return VaeImageProcessor(vae_scale_factor=2)  # the tiny VAE has one block


def _image_inputs(**extra):
    image = PIL.Image.fromarray((np.random.RandomState(1).rand(32, 32, 3) * 255).astype("uint8"))
    return _inputs(image=image, output="images", **extra)


PATCH = "modular-flux-conditioning-in-transformer-dtype.patch"
FLUX = modular_blocks("FluxAutoBlocks", image_processor=_image_processor)
KONTEXT = modular_blocks("FluxKontextAutoBlocks", image_processor=_image_processor)
CASES = [
    Case(
        "FluxModularPipeline", PATCH, _flux, lambda: _inputs(output="images"), denoiser="transformer",
        conditioning=CONDITIONING, build=FLUX,
    ),
    Case(
        "FluxModularPipeline-img2img", PATCH, _flux, lambda: _image_inputs(strength=0.5), denoiser="transformer",
        conditioning=CONDITIONING, build=FLUX,
    ),
    Case(
        "FluxKontextModularPipeline", PATCH, _flux, lambda: _image_inputs(_auto_resize=False, max_area=64),
        denoiser="transformer", conditioning=CONDITIONING, build=KONTEXT,
    ),
]  # fmt: skip
