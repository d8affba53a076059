"""AuraFlow: the UMT5 conditioning reaches the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _aura_flow(tokenizers):
    from transformers import T5TokenizerFast, UMT5Config, UMT5EncoderModel

    from diffusers import AuraFlowTransformer2DModel, AutoencoderKL, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(0)
    transformer = AuraFlowTransformer2DModel(
        sample_size=32, patch_size=2, in_channels=4, num_mmdit_layers=1, num_single_dit_layers=1,
        attention_head_dim=8, num_attention_heads=4, caption_projection_dim=32, joint_attention_dim=32,
        out_channels=4, pos_embed_max_size=256,
    ).eval()  # fmt: skip
    config = UMT5Config(**{k: v for k, v in hub_standins.t5_config().to_dict().items() if k in hub_standins.UMT5_KEYS})
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(config).eval()
    torch.manual_seed(0)
    vae = AutoencoderKL().eval()
    return dict(
        transformer=transformer, text_encoder=text_encoder, tokenizer=T5TokenizerFast.from_pretrained(tokenizers["t5"]),
        vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(),
    )  # fmt: skip


def _aura_flow_inputs():
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, guidance_scale=5.0, height=16, width=16, output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "aura-flow-conditioning-in-transformer-dtype.patch"
CASES = [
    Case(
        "AuraFlowPipeline",
        PATCH,
        _aura_flow,
        _aura_flow_inputs,
        denoiser="transformer",
        conditioning=("encoder_hidden_states",),
    ),
]
