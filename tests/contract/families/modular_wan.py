"""Modular Wan: the UMT5 conditioning and the latents reach the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case, modular_blocks


def _components(tokenizers):
    return hub_standins.wan_components(tokenizers["clip"], tokenizers["t5"])


def _inputs():
    return dict(
        prompt="a photo of a cat", negative_prompt="bad quality", num_inference_steps=2, height=16, width=16,
        num_frames=9, max_sequence_length=16, output_type="pt", generator=torch.Generator().manual_seed(0),
        output="videos",
    )  # fmt: skip


CASES = [
    Case(
        "WanModularPipeline", "modular-wan-conditioning-in-transformer-dtype.patch", _components, _inputs,
        denoiser="transformer", conditioning=("hidden_states", "encoder_hidden_states"),
        build=modular_blocks("WanBlocks"),
    ),
]  # fmt: skip
