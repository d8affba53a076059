"""Modular QwenImage: the Qwen2.5-VL prompt embeddings and the latents reach the transformer in its dtype."""

from forktools.upstream import hub_standins

from . import Case, modular_blocks
from .qwenimage import _components, _img2img_inputs, _inputs


PATCH = "modular-qwenimage-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("hidden_states", "encoder_hidden_states")
QWENIMAGE = modular_blocks("QwenImageAutoBlocks")
CASES = [
    Case(
        "QwenImageModularPipeline", PATCH, _components, lambda: dict(_inputs(), output="images"),
        denoiser="transformer", conditioning=CONDITIONING, build=QWENIMAGE,
    ),
    Case(
        "QwenImageModularPipeline-img2img", PATCH, _components, lambda: dict(_img2img_inputs(), output="images"),
        denoiser="transformer", conditioning=CONDITIONING, build=QWENIMAGE,
    ),
]  # fmt: skip
if not hub_standins.transformers_5():  # the Qwen2 tokenizer stand-in is built with transformers 5's API
    CASES = []
