"""Shap-E: the CLIP text embedding reaches the prior in the prior's dtype."""

import torch

from forktools.upstream import hub_standins

from . import Case


def _shap_e(tokenizers):
    from transformers import CLIPTextModelWithProjection, CLIPTokenizer

    from diffusers import HeunDiscreteScheduler, PriorTransformer
    from diffusers.pipelines.shap_e import ShapERenderer

    torch.manual_seed(0)
    text_encoder = CLIPTextModelWithProjection(hub_standins.clip_text_config(projection_dim=16)).eval()
    torch.manual_seed(0)
    prior = PriorTransformer(
        num_attention_heads=2, attention_head_dim=16, embedding_dim=16, num_embeddings=32, embedding_proj_dim=16,
        time_embed_dim=64, num_layers=1, clip_embed_dim=32, additional_embeddings=0, time_embed_act_fn="gelu",
        norm_in_type="layer", encoder_hid_proj_type=None, added_emb_type=None,
    )  # fmt: skip
    torch.manual_seed(0)
    renderer = ShapERenderer(
        param_shapes=((8, 93), (8, 8), (8, 8), (8, 8)), d_latent=16, d_hidden=8, n_output=12,
        background=(0.1, 0.1, 0.1),
    )  # fmt: skip
    scheduler = HeunDiscreteScheduler(
        beta_schedule="exp", num_train_timesteps=1024, prediction_type="sample", use_karras_sigmas=True,
        clip_sample=True, clip_sample_range=1.0,
    )  # fmt: skip
    return dict(
        prior=prior, text_encoder=text_encoder, tokenizer=CLIPTokenizer.from_pretrained(tokenizers["clip"]),
        shap_e_renderer=renderer, scheduler=scheduler,
    )  # fmt: skip


def _shap_e_inputs():
    return dict(
        prompt="a photo of a cat", num_inference_steps=2, frame_size=32, output_type="latent",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


PATCH = "shap-e-conditioning-in-prior-dtype.patch"
CASES = [
    Case("ShapEPipeline", PATCH, _shap_e, _shap_e_inputs, denoiser="prior", conditioning=("proj_embedding",)),
]
