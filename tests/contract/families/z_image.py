"""Z-Image: the Qwen3 caption features reach the transformer in its dtype; the VAE encodes in its own."""

import torch

from forktools.upstream import hub_standins

from . import Case
from .qwenimage import qwen2_tokenizer


def _components(tokenizers):
    from transformers import Qwen3Config, Qwen3Model

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImageTransformer2DModel

    torch.manual_seed(0)
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,), all_f_patch_size=(1,), in_channels=4, dim=32, n_layers=1, n_refiner_layers=1, n_heads=2,
        n_kv_heads=2, norm_eps=1e-5, qk_norm=True, cap_feat_dim=16, rope_theta=256.0, t_scale=1000.0,
        axes_dims=[8, 4, 4], axes_lens=[256, 32, 32],
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"], block_out_channels=[8, 8], layers_per_block=1,
        latent_channels=4, norm_num_groups=4, sample_size=32, scaling_factor=0.3611, shift_factor=0.1159,
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    text_encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
            vocab_size=151936, max_position_embeddings=512,
        )
    ).eval()  # fmt: skip
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=qwen2_tokenizer(tokenizers),
    )  # fmt: skip


def _img2img_inputs():
    # guidance_scale > 0: the negative prompt goes through encode_prompt too
    return dict(
        prompt="a photo of a cat", negative_prompt="bad quality", guidance_scale=3.0, cfg_normalization=False,
        cfg_truncation=1.0, num_inference_steps=2, height=32, width=32, max_sequence_length=16, output_type="pt",
        image=torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), strength=0.6,
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _inpaint_inputs():
    mask_image = torch.zeros(1, 1, 32, 32)
    mask_image[..., 8:24, 8:24] = 1.0
    return dict(_img2img_inputs(), mask_image=mask_image)


PATCH = "z-image-conditioning-in-transformer-dtype.patch"
CAP_FEATS = (2,)  # the transformer takes the caption features (a list of tensors) as its third positional argument
CASES = [
    Case("ZImageImg2ImgPipeline", PATCH, _components, _img2img_inputs, denoiser="transformer", conditioning=CAP_FEATS),
    Case("ZImageInpaintPipeline", PATCH, _components, _inpaint_inputs, denoiser="transformer", conditioning=CAP_FEATS),
]
if not hub_standins.transformers_5():  # the Qwen2 tokenizer stand-in is built with transformers 5's API
    CASES = []
