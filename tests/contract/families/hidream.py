"""HiDream: the CLIP, T5 and Llama conditioning reaches the transformer in the transformer's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case, tokenizer_folder


def _llama_tokenizer(tokenizers):
    return tokenizer_folder(tokenizers, "llama", hub_standins.save_llama_tokenizer, pad_token="<pad>")


def _hidream(tokenizers):
    from transformers import (
        AutoTokenizer, CLIPTextModelWithProjection, CLIPTokenizer, LlamaConfig, LlamaForCausalLM, T5EncoderModel,
    )  # fmt: skip

    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, HiDreamImageTransformer2DModel

    torch.manual_seed(0)
    transformer = HiDreamImageTransformer2DModel(
        patch_size=2, in_channels=4, out_channels=4, num_layers=1, num_single_layers=1, attention_head_dim=8,
        num_attention_heads=4, caption_channels=[32, 16], text_emb_dim=64, num_routed_experts=4,
        num_activated_experts=2, axes_dims_rope=(4, 2, 2), max_resolution=(32, 32), llama_layers=(0, 1),
    ).eval()  # fmt: skip
    torch.manual_seed(0)
    # HiDream always makes (128 * vae_scale_factor)**2-pixel images: a VAE of 4 channels keeps decoding them cheap
    vae = AutoencoderKL(
        block_out_channels=(4,), layers_per_block=1, norm_num_groups=1, use_quant_conv=False,
        use_post_quant_conv=False, scaling_factor=0.3611, shift_factor=0.1159,
    ).eval()  # fmt: skip
    clip_config = hub_standins.clip_text_config(projection_dim=32, max_position_embeddings=128)
    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(clip_config).eval()
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(clip_config).eval()
    torch.manual_seed(0)
    text_encoder_3 = T5EncoderModel(hub_standins.t5_config()).eval()
    llama = _llama_tokenizer(tokenizers)
    tokenizer_4 = AutoTokenizer.from_pretrained(llama)
    torch.manual_seed(0)
    text_encoder_4 = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(tokenizer_4),
            hidden_size=16,
            intermediate_size=37,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            pad_token_id=tokenizer_4.pad_token_id,
        )  # fmt: skip
    ).eval()
    return dict(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=text_encoder,
        tokenizer=CLIPTokenizer.from_pretrained(tokenizers["clip"]), text_encoder_2=text_encoder_2,
        tokenizer_2=CLIPTokenizer.from_pretrained(tokenizers["clip"]), text_encoder_3=text_encoder_3,
        tokenizer_3=AutoTokenizer.from_pretrained(tokenizers["t5"]), text_encoder_4=text_encoder_4,
        tokenizer_4=tokenizer_4,
    )  # fmt: skip


def _hidream_inputs():
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, guidance_scale=5.0, height=16, width=16, output_type="pt",
        max_sequence_length=16, generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "hidream-conditioning-in-transformer-dtype.patch"
# The Llama tokenizer stand-in needs transformers 5 (hub_standins.NEEDS_TRANSFORMERS_5).
CASES = (
    [
        Case(
            "HiDreamImagePipeline",
            PATCH,
            _hidream,
            _hidream_inputs,
            denoiser="transformer",
            conditioning=("encoder_hidden_states_t5", "encoder_hidden_states_llama3", "pooled_embeds"),
        ),
    ]
    if hub_standins.transformers_5()
    else []
)
