"""LTX-2: the Gemma 3 conditioning reaches the connectors and the transformer in their dtypes."""

import inspect

import torch
import transformers

import diffusers

from . import Case


GEMMA_HIDDEN = 32  # the connectors' 4 heads of 8 and the transformer's caption_channels
GEMMA_LAYERS = 2  # the connectors project the embedding layer's and each layer's hidden states: 3 x 32 features


def _components(tokenizers):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, T5TokenizerFast

    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    # The pipelines only tokenize with padding to a fixed length: the T5 stand-in serves (it loads with transformers
    # 4 and 5), Gemma 3's vocabulary covers its ids.
    tokenizer = T5TokenizerFast.from_pretrained(tokenizers["t5"])
    text = dict(
        vocab_size=len(tokenizer), hidden_size=GEMMA_HIDDEN, intermediate_size=37, num_hidden_layers=GEMMA_LAYERS,
        num_attention_heads=4, num_key_value_heads=1, head_dim=8,
    )  # fmt: skip
    vision = dict(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2, image_size=8)
    torch.manual_seed(0)
    text_encoder = Gemma3ForConditionalGeneration(
        Gemma3Config(text_config=text, vision_config=dict(vision, patch_size=2), mm_tokens_per_image=4)
    ).eval()
    torch.manual_seed(0)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
        audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=1, qk_norm="rms_norm_across_heads",
        caption_channels=GEMMA_HIDDEN, rope_double_precision=False, rope_type="split",
    )  # fmt: skip
    torch.manual_seed(0)
    connectors = LTX2TextConnectors(
        caption_channels=GEMMA_HIDDEN, text_proj_in_factor=GEMMA_LAYERS + 1, video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_double_precision=False,
        rope_type="split",
    )  # fmt: skip
    torch.manual_seed(0)
    vae = AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8,), decoder_block_out_channels=(8,),
        layers_per_block=(1,), decoder_layers_per_block=(1, 1), spatio_temporal_scaling=(True,),
        decoder_spatio_temporal_scaling=(True,), decoder_inject_noise=(False, False), downsample_type=("spatial",),
        upsample_residual=(False,), upsample_factor=(1,), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )  # fmt: skip
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    torch.manual_seed(0)
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8,
    )  # fmt: skip
    torch.manual_seed(0)
    vocoder = LTX2Vocoder(
        in_channels=16, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[4, 4], upsample_factors=[2, 2],
        resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1,
        output_sampling_rate=16000,
    )  # fmt: skip
    return dict(
        transformer=transformer, vae=vae, audio_vae=audio_vae, scheduler=FlowMatchEulerDiscreteScheduler(),
        text_encoder=text_encoder, tokenizer=tokenizer, connectors=connectors, vocoder=vocoder, processor=None,
    )  # fmt: skip


def _inputs():
    return dict(
        prompt="a robot dancing", negative_prompt="", num_inference_steps=2, guidance_scale=2.0, height=32, width=32,
        num_frames=5, frame_rate=25.0, max_sequence_length=16, output_type="pt",
        generator=torch.Generator().manual_seed(0),
    )  # fmt: skip


def _image_inputs():
    from PIL import Image

    from diffusers import LTX2ImageToVideoPipeline

    pixels = torch.randint(0, 256, (32, 32, 3), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    inputs = dict(_inputs(), image=Image.fromarray(pixels.numpy()))
    if "image_crf" in inspect.signature(LTX2ImageToVideoPipeline.__call__).parameters:
        inputs["image_crf"] = 0  # no H.264 re-compression of the image (it needs PyAV)
    return inputs


def _dfr_inputs():
    # no keyframe slots: they need an LTX-2.5 transformer (`use_keyframes_abs_pos_embedding`)
    inputs = dict(_inputs(), num_frames=9, sigmas=[1.0, 0.5], generate_slots=False)
    del inputs["negative_prompt"], inputs["num_inference_steps"], inputs["guidance_scale"]
    return inputs


PATCH = "ltx2-conditioning-in-transformer-dtype.patch"
CONDITIONING = ("encoder_hidden_states", "audio_encoder_hidden_states")
CASES = []
if hasattr(transformers, "Gemma3ForConditionalGeneration"):  # transformers 4.50 and later
    CASES += [
        Case("LTX2Pipeline", PATCH, _components, _inputs, "transformer", CONDITIONING),
        Case("LTX2ImageToVideoPipeline", PATCH, _components, _image_inputs, "transformer", CONDITIONING),
    ]
    if hasattr(diffusers, "LTX2DFRPipeline"):  # diffusers 0.42 and later
        CASES.append(Case("LTX2DFRPipeline", PATCH, _components, _dfr_inputs, "transformer", CONDITIONING))
