# Copyright 2025 HuggingFace Inc.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.
"""Mixed-precision tests for StableDiffusion3Pipeline (https://github.com/huggingface/diffusers/issues/11117).

The components are tiny and built in code, tokenizers included, so these tests need no hub access.
"""

import json
import os
import tempfile
import unittest
from unittest import mock

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import (
    CLIPTextConfig,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
    T5Config,
    T5EncoderModel,
    T5TokenizerFast,
)
from transformers.convert_slow_tokenizer import bytes_to_unicode

from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline


def get_clip_tokenizer(folder):
    # A byte-level BPE vocabulary with no merges: every byte is a token.
    chars = list(bytes_to_unicode().values())
    vocab = {token: i for i, token in enumerate(chars + [c + "</w>" for c in chars])}
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    return CLIPTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"), model_max_length=77)


def get_t5_tokenizer():
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(chr(c), -2.0) for c in range(ord("a"), ord("z") + 1)]
    backend = Tokenizer(models.Unigram(pieces, unk_id=2))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return T5TokenizerFast(tokenizer_object=backend, eos_token="</s>", unk_token="<unk>", pad_token="<pad>")


class StableDiffusion3PipelineDtypeFastTests(unittest.TestCase):
    def setUp(self):
        super().setUp()
        self.tmpdir = tempfile.TemporaryDirectory()

    def tearDown(self):
        self.tmpdir.cleanup()
        super().tearDown()

    def get_dummy_components(self, dtypes=None):
        dtypes = dtypes or {}
        tokenizer = get_clip_tokenizer(self.tmpdir.name)
        tokenizer_3 = get_t5_tokenizer()

        def clip(hidden_size, seed):
            torch.manual_seed(seed)
            config = CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=hidden_size,
                intermediate_size=37,
                projection_dim=hidden_size,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=77,
                hidden_act="gelu",
                bos_token_id=len(tokenizer) - 2,
                eos_token_id=len(tokenizer) - 1,
                pad_token_id=len(tokenizer) - 1,
            )
            return CLIPTextModelWithProjection(config).eval()

        torch.manual_seed(2)
        text_encoder_3 = T5EncoderModel(
            T5Config(
                vocab_size=len(tokenizer_3),
                d_model=64,
                d_ff=37,
                d_kv=8,
                num_layers=2,
                num_heads=4,
                relative_attention_num_buckets=8,
                feed_forward_proj="gated-gelu",
                pad_token_id=0,
                eos_token_id=1,
            )
        ).eval()
        torch.manual_seed(3)
        transformer = SD3Transformer2DModel(
            sample_size=16,
            patch_size=2,
            in_channels=16,
            out_channels=16,
            num_layers=1,
            attention_head_dim=8,
            num_attention_heads=2,
            joint_attention_dim=64,
            caption_projection_dim=16,
            pooled_projection_dim=48,
            pos_embed_max_size=32,
        )
        torch.manual_seed(4)
        vae = AutoencoderKL(
            block_out_channels=(8, 16),
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            layers_per_block=1,
            latent_channels=16,
            norm_num_groups=4,
            sample_size=32,
            scaling_factor=1.5305,
            shift_factor=0.0609,
            use_quant_conv=False,
            use_post_quant_conv=False,
        )
        components = {
            "scheduler": FlowMatchEulerDiscreteScheduler(shift=3.0),
            "text_encoder": clip(16, 0),
            "text_encoder_2": clip(32, 1),
            "text_encoder_3": text_encoder_3,
            "tokenizer": tokenizer,
            "tokenizer_2": tokenizer,
            "tokenizer_3": tokenizer_3,
            "transformer": transformer,
            "vae": vae,
            "image_encoder": None,
            "feature_extractor": None,
        }
        for name, dtype in dtypes.items():
            components[name].to(dtype)
        return components

    def get_dummy_inputs(self, **kwargs):
        inputs = {
            "prompt": "a photo of a cat",
            "num_inference_steps": 2,
            "guidance_scale": 5.0,
            "height": 32,
            "width": 32,
            "output_type": "np",
            "generator": torch.Generator("cpu").manual_seed(0),
        }
        inputs.update(kwargs)
        return inputs

    def assert_embeds_dtype(self, pipe, expected, **kwargs):
        embeds = pipe.encode_prompt("a photo of a cat", None, None, do_classifier_free_guidance=True, **kwargs)
        self.assertEqual([embed.dtype for embed in embeds], [expected] * 4)
        return embeds

    def test_mixed_precision_text_encoders(self):
        # T5 in fp32 "for quality", CLIP-L in fp32 and CLIP-G in fp16, transformer and VAE in bf16.
        dtypes = {
            "text_encoder": torch.float32,
            "text_encoder_2": torch.float16,
            "text_encoder_3": torch.float32,
            "transformer": torch.bfloat16,
            "vae": torch.bfloat16,
        }
        pipe = StableDiffusion3Pipeline(**self.get_dummy_components(dtypes))
        image = pipe(**self.get_dummy_inputs()).images
        self.assertEqual(image.shape, (1, 32, 32, 3))
        self.assertTrue(np.isfinite(image).all())
        self.assert_embeds_dtype(pipe, torch.bfloat16)
        self.assert_embeds_dtype(pipe, torch.float16, dtype=torch.float16)

    def test_vae_in_another_dtype(self):
        dtypes = {"text_encoder_3": torch.bfloat16, "transformer": torch.bfloat16, "vae": torch.float32}
        pipe = StableDiffusion3Pipeline(**self.get_dummy_components(dtypes))
        self.assertTrue(np.isfinite(pipe(**self.get_dummy_inputs()).images).all())

    def test_precomputed_embeddings_of_another_dtype(self):
        pipe = StableDiffusion3Pipeline(**self.get_dummy_components())
        embeds = self.assert_embeds_dtype(pipe, torch.float32)
        pipe.to(torch.bfloat16)
        inputs = self.get_dummy_inputs(prompt=None)
        names = ["prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"]
        inputs.update(dict(zip(names, embeds)))
        self.assertTrue(np.isfinite(pipe(**inputs).images).all())

    def test_without_t5_the_padding_follows_the_transformer_dtype(self):
        components = self.get_dummy_components({"text_encoder": torch.float16, "transformer": torch.bfloat16})
        components.update(text_encoder_3=None, tokenizer_3=None)
        pipe = StableDiffusion3Pipeline(**components)
        prompt_embeds = self.assert_embeds_dtype(pipe, torch.bfloat16)[0]
        self.assertEqual(torch.count_nonzero(prompt_embeds[:, 77:]).item(), 0)
        self.assertTrue(np.isfinite(pipe(**self.get_dummy_inputs()).images).all())

    def test_text_encoder_with_mixed_parameter_dtypes_names_the_component(self):
        pipe = StableDiffusion3Pipeline(**self.get_dummy_components())
        pipe.to(torch.bfloat16)
        pipe.text_encoder_2.text_model.to(torch.float16)
        with self.assertRaisesRegex(RuntimeError, r"`text_encoder_2` \(CLIPTextModelWithProjection\).*torch.float16"):
            pipe(**self.get_dummy_inputs())

    def save_pipeline(self, dtype):
        path = os.path.join(self.tmpdir.name, "pipe")
        pipe = StableDiffusion3Pipeline(**self.get_dummy_components())
        for name in ("text_encoder", "text_encoder_2", "text_encoder_3"):
            getattr(pipe, name).to(dtype)
        pipe.save_pretrained(path)
        return path

    def test_from_pretrained_without_dtype_loads_text_encoders_in_float32(self):
        pipe = StableDiffusion3Pipeline.from_pretrained(self.save_pipeline(torch.float16))
        for name in ("text_encoder", "text_encoder_2", "text_encoder_3"):
            self.assertEqual({p.dtype for p in getattr(pipe, name).parameters()}, {torch.float32}, name)
        self.assertTrue(np.isfinite(pipe(**self.get_dummy_inputs()).images).all())

    def test_from_pretrained_reconciles_partially_cast_text_encoders(self):
        # transformers 4.49 left `text_model` in the checkpoint's dtype and `text_projection` in the requested one.
        path = self.save_pipeline(torch.float16)
        original = CLIPTextModelWithProjection.from_pretrained.__func__

        def from_pretrained(cls, *args, **kwargs):
            model = original(cls, *args, **kwargs)
            model.text_model.to(torch.float16)
            return model

        with mock.patch.object(CLIPTextModelWithProjection, "from_pretrained", classmethod(from_pretrained)):
            pipe = StableDiffusion3Pipeline.from_pretrained(path, dtype=torch.bfloat16)
        for name in ("text_encoder", "text_encoder_2"):
            self.assertEqual({p.dtype for p in getattr(pipe, name).parameters()}, {torch.bfloat16}, name)
        self.assertTrue(np.isfinite(pipe(**self.get_dummy_inputs()).images).all())

    def test_from_pretrained_dtype_names_and_invalid_dtypes(self):
        path = self.save_pipeline(torch.float16)
        pipe = StableDiffusion3Pipeline.from_pretrained(path, dtype={"text_encoder_3": "float32", "default": "bf16"})
        self.assertEqual(pipe.text_encoder_3.dtype, torch.float32)
        self.assertEqual(pipe.transformer.dtype, torch.bfloat16)
        for dtype in ("int8", torch.int64, {"text_encoder": "float42"}):
            with self.assertRaisesRegex(ValueError, "Unsupported `dtype`"):
                StableDiffusion3Pipeline.from_pretrained(path, dtype=dtype)
