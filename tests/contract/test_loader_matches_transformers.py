"""What a pipeline loads for a transformers component is what plain transformers gives, tensor for tensor.

For every kind of transformers model, `OneEncoderPipeline.from_pretrained(repo, dtype=...)` must hold the same
parameters and buffers (non-persistent ones included; names, dtypes and values) as
`TheClass.from_pretrained(repo/"text_encoder", dtype=...)`. Where plain transformers itself leaves parameters outside
the requested dtype by mistake (transformers 4.49's CLIP `text_model`, simulated below on every release), the loader
casts exactly those parameters, by transformers' own keep-in-fp32 rule, and leaves every buffer alone.

Repositories: CLIP and Llama stored in float16 (as SD3.5 stores its text encoders), T5, Gemma2 and Dots1 (a MoE with
dotted `_keep_in_fp32_modules_strict` entries such as "gate.weight") in float32, and a second T5 in bfloat16.
"""

import json
import os
import re
import shutil

import pytest
import torch
import transformers
from packaging import version
from safetensors.torch import load_file
from transformers import (
    CLIPTextConfig,
    CLIPTextModelWithProjection,
    Gemma2Config,
    Gemma2Model,
    LlamaConfig,
    LlamaModel,
    T5Config,
    T5EncoderModel,
)

from diffusers import DiffusionPipeline
from tests.checks import assert_same_tensors, load, transformers_load


BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32
HALF = pytest.mark.parametrize("dtype", [BF16, FP16], ids=["bf16", "fp16"])
TRANSFORMERS_5 = version.parse(transformers.__version__).major >= 5
# transformers 5 also registers the frequencies before any dynamic RoPE update as a (non-persistent) buffer.
ROPE_BUFFERS = ("rotary_emb.inv_freq", "rotary_emb.original_inv_freq") if TRANSFORMERS_5 else ("rotary_emb.inv_freq",)


class OneEncoderPipeline(DiffusionPipeline):
    def __init__(self, text_encoder):
        super().__init__()
        self.register_modules(text_encoder=text_encoder)


def dots1_with_dotted_strict_entries():
    """Dots1Model, where the installed transformers has it with dotted `_keep_in_fp32_modules_strict` entries."""
    cls = getattr(transformers, "Dots1Model", None)
    if cls is None or not any("." in entry for entry in cls._keep_in_fp32_modules_strict or []):
        return None
    return cls


DOTS1 = dots1_with_dotted_strict_entries()
needs_dots1 = pytest.mark.skipif(
    DOTS1 is None, reason="this transformers has no Dots1Model with dotted `_keep_in_fp32_modules_strict` entries"
)


def tiny_model(kind):
    """(model, stored dtype) of a tiny random model of `kind`."""
    torch.manual_seed(0)
    rope = dict(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2)
    if kind == "clip":
        config = CLIPTextConfig(
            vocab_size=64,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=16,
            projection_dim=16,
        )
        return CLIPTextModelWithProjection(config), FP16
    if kind in ("t5", "t5-bf16"):
        model = T5EncoderModel(T5Config(vocab_size=64, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2))
        return model, FP32 if kind == "t5" else BF16
    if kind == "llama":
        return LlamaModel(LlamaConfig(num_key_value_heads=1, **rope)), FP16
    if kind == "gemma2":
        return Gemma2Model(Gemma2Config(num_key_value_heads=1, head_dim=8, **rope)), FP32
    if kind == "dots1":
        config = transformers.Dots1Config(
            moe_intermediate_size=8,
            first_k_dense_replace=1,
            n_routed_experts=4,
            num_experts_per_tok=2,
            n_shared_experts=1,
            num_key_value_heads=1,
            head_dim=8,
            **rope,
        )
        return DOTS1(config), FP32
    raise ValueError(kind)


KINDS = ["clip", "t5", "llama", "gemma2", pytest.param("dots1", marks=needs_dots1)]


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    """kind -> a saved `OneEncoderPipeline` repository, built on first use."""
    root = tmp_path_factory.mktemp("one-encoder")
    saved = {}

    def repo(kind):
        if kind not in saved:
            model, stored = tiny_model(kind)
            saved[kind] = str(root / kind)
            OneEncoderPipeline(text_encoder=model.to(stored)).save_pretrained(saved[kind])
        return saved[kind]

    return repo


def encoder_folder(repo):
    return os.path.join(repo, "text_encoder")


def checkpoint(repo):
    """The text encoder's stored tensors, in their stored dtype."""
    folder = encoder_folder(repo)
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            tensors.update(load_file(os.path.join(folder, name)))
    return tensors


def keep_in_fp32(model, dtype):
    """transformers' own rule: a pattern `search`ing the parameter names it keeps in float32 when loading in `dtype`."""
    if hasattr(model, "_get_dtype_plan"):  # transformers 5: glob patterns, searched in the parameter names
        patterns = [pattern for pattern, kept in model._get_dtype_plan(dtype).items() if kept == FP32]
        if not patterns:
            return None
        try:
            from transformers.core_model_loading import build_glob_alternation
        except ImportError:
            return re.compile("|".join(f"(?:{pattern.replace('*', '.*')})" for pattern in patterns))
        return build_glob_alternation(patterns)[0]
    # transformers 4: `_keep_in_fp32_modules` (float16) and `_keep_in_fp32_modules_strict`, as whole dotted segments.
    modules = list(model._keep_in_fp32_modules or []) if dtype == FP16 else []
    if dtype in (FP16, BF16):
        modules += list(getattr(model, "_keep_in_fp32_modules_strict", None) or [])
    return re.compile("|".join(rf"((^|\.){module}($|\.))" for module in modules)) if modules else None


def mistakes(model, dtype):
    """Names of the floating parameters transformers left outside `dtype`, apart from those it keeps in float32."""
    keep = keep_in_fp32(model, dtype)
    return [
        name
        for name, param in model.named_parameters()
        if param.is_floating_point()
        and param.dtype != dtype
        and not (param.dtype == FP32 and keep is not None and keep.search(name))
    ]


def plain_load(cls, repo, dtype=None):
    """What plain transformers gives in `dtype`, with the parameters it left in another dtype by mistake cast.

    Where the installed transformers loads uniformly (every release the fork supports, apart from 4.49's CLIP text
    model), nothing is cast: this is `cls.from_pretrained(folder, dtype=dtype)` itself. Without a dtype (for
    transformers 4, where that meant float32), `cls.from_pretrained(folder)`.
    """
    folder = encoder_folder(repo)
    model = transformers_load(cls, folder, dtype) if dtype is not None else cls.from_pretrained(folder)
    dtype = dtype or FP32
    wrong = set(mistakes(model, dtype))
    for name, param in model.named_parameters():
        if name in wrong:
            param.data = param.data.to(dtype)
    return model


def tensors(model):
    return dict([*model.named_parameters(), *model.named_buffers()])


def leave_in_checkpoint_dtype(monkeypatch, cls, repo, prefixes):
    """
    Simulate a transformers release that ignores the requested dtype for part of a model (4.49's CLIP `text_model`):
    `cls.from_pretrained` leaves the parameters under `prefixes` as stored. Returns name -> (tensor, its dtype) for
    every parameter and buffer that loader produced, as it produced them.
    """
    stored = checkpoint(repo)
    stored_dtype = next(iter(stored.values())).dtype
    original = cls.from_pretrained.__func__
    produced = {}

    def from_pretrained(klass, path, *args, **kwargs):
        model = original(klass, path, *args, **kwargs)
        for name, param in model.named_parameters():
            if name.startswith(prefixes):
                # A parameter transformers fuses from several stored tensors (Dots1's MoE experts) is not stored as
                # such: the loaded one, in the stored dtype (float32 for Dots1, so the round trip is exact).
                param.data = stored[name].clone() if name in stored else param.data.to(stored_dtype)
        produced.update({name: (t, t.dtype) for name, t in tensors(model).items()})
        return model

    monkeypatch.setattr(cls, "from_pretrained", classmethod(from_pretrained))
    return produced


def assert_untouched_buffers(got, produced):
    """Every buffer is the very tensor the transformers loader produced, in its dtype."""
    for name, buffer in got.named_buffers():
        assert buffer is produced[name][0], f"{name} was replaced"
        assert buffer.dtype == produced[name][1], f"{name} was cast from {produced[name][1]} to {buffer.dtype}"


# ------------------------------------------------------------------------------------------ uniform loads
@HALF
@pytest.mark.parametrize("kind", KINDS)
def test_pipeline_load_equals_plain_transformers(repos, kind, dtype):
    repo = repos(kind)
    got = load(OneEncoderPipeline, repo, dtype).text_encoder
    expected = plain_load(type(got), repo, dtype)
    assert_same_tensors(got, expected, f"{kind} in {dtype}")


@HALF
@pytest.mark.parametrize("kind", ["llama", "gemma2", pytest.param("dots1", marks=needs_dots1)])
def test_rope_buffers_stay_as_transformers_left_them(repos, kind, dtype):
    repo = repos(kind)
    got = load(OneEncoderPipeline, repo, dtype).text_encoder
    expected = tensors(transformers_load(type(got), encoder_folder(repo), dtype))
    buffers = dict(got.named_buffers())
    for name in ROPE_BUFFERS:
        assert name in buffers and name in expected, f"{kind} has no buffer {name}"
        assert buffers[name].dtype == expected[name].dtype, f"{kind}: {name} is {buffers[name].dtype}"
        assert torch.equal(buffers[name], expected[name]), f"{kind}: {name} differs in value"


@HALF
@needs_dots1
def test_dotted_strict_keep_entries_stay_float32(repos, dtype):
    repo = repos("dots1")
    got = load(OneEncoderPipeline, repo, dtype).text_encoder
    expected = transformers_load(DOTS1, encoder_folder(repo), dtype)
    kept = [name for name, param in expected.named_parameters() if param.dtype == FP32]
    # transformers keeps each router's weight in float32 by its dotted entry "gate.weight" (or "mlp.gate.weight").
    assert any(name.endswith("mlp.gate.weight") for name in kept), kept
    params = dict(got.named_parameters())
    for name in kept:
        assert params[name].dtype == FP32, f"{name} is {params[name].dtype}"
    assert_same_tensors(got, expected, f"dots1 in {dtype}")


# ------------------------------------------------------------------------------- simulated partial casts
def test_legacy_clip_partial_cast_is_repaired(monkeypatch, repos):
    repo = repos("clip")
    expected = plain_load(CLIPTextModelWithProjection, repo, BF16)
    produced = leave_in_checkpoint_dtype(monkeypatch, CLIPTextModelWithProjection, repo, ("text_model.",))
    got = load(OneEncoderPipeline, repo, BF16).text_encoder
    assert produced["text_model.final_layer_norm.weight"][1] == FP16  # the simulation took effect
    assert {param.dtype for param in got.parameters()} == {BF16}
    assert_same_tensors(got, expected, "clip in bf16, text_model left in fp16")
    assert_untouched_buffers(got, produced)


@pytest.mark.parametrize("kind", ["llama", "gemma2"])
def test_partial_cast_repairs_parameters_and_leaves_rope_buffers(monkeypatch, repos, kind):
    repo = repos(kind)
    cls = LlamaModel if kind == "llama" else Gemma2Model
    expected = plain_load(cls, repo, BF16)
    produced = leave_in_checkpoint_dtype(monkeypatch, cls, repo, ("layers.1.", "embed_tokens."))
    got = load(OneEncoderPipeline, repo, BF16).text_encoder
    assert produced["layers.1.input_layernorm.weight"][1] != BF16  # the simulation took effect
    assert {param.dtype for param in got.parameters()} == {BF16}
    assert_same_tensors(got, expected, f"{kind} in bf16, layers.1 left as stored")
    assert_untouched_buffers(got, produced)
    assert all(name in dict(got.named_buffers()) for name in ROPE_BUFFERS)


def test_t5_partial_cast_in_fp16_keeps_wo_in_fp32(monkeypatch, repos):
    repo = repos("t5")
    expected = plain_load(T5EncoderModel, repo, FP16)
    produced = leave_in_checkpoint_dtype(monkeypatch, T5EncoderModel, repo, ("encoder.block.0.", "shared."))
    got = load(OneEncoderPipeline, repo, FP16).text_encoder
    assert produced["encoder.block.0.layer.0.SelfAttention.q.weight"][1] == FP32  # the simulation took effect
    for name, param in got.named_parameters():
        assert param.dtype == (FP32 if "wo" in name.split(".") else FP16), f"{name} is {param.dtype}"
    assert_same_tensors(got, expected, "t5 in fp16, block 0 left in fp32")


def test_t5_partial_cast_from_bf16_checkpoint_puts_wo_in_fp32(monkeypatch, repos):
    repo = repos("t5-bf16")
    expected = plain_load(T5EncoderModel, repo, FP16)
    produced = leave_in_checkpoint_dtype(monkeypatch, T5EncoderModel, repo, ("encoder.block.0.", "shared."))
    got = load(OneEncoderPipeline, repo, FP16).text_encoder
    assert produced["encoder.block.0.layer.1.DenseReluDense.wo.weight"][1] == BF16  # the simulation took effect
    for name, param in got.named_parameters():
        assert param.dtype == (FP32 if "wo" in name.split(".") else FP16), f"{name} is {param.dtype}"
    assert_same_tensors(got, expected, "t5 stored in bf16, in fp16, block 0 left in bf16")


@HALF
@needs_dots1
def test_dots1_partial_cast_keeps_dotted_strict_entries(monkeypatch, repos, dtype):
    repo = repos("dots1")
    expected = plain_load(DOTS1, repo, dtype)
    produced = leave_in_checkpoint_dtype(monkeypatch, DOTS1, repo, ("layers.1.",))
    got = load(OneEncoderPipeline, repo, dtype).text_encoder
    assert produced["layers.1.self_attn.q_proj.weight"][1] == FP32  # the simulation took effect
    for name, param in got.named_parameters():
        assert param.dtype == (FP32 if name.endswith("mlp.gate.weight") else dtype), f"{name} is {param.dtype}"
    assert_same_tensors(got, expected, f"dots1 in {dtype}, layers.1 left in fp32")
    assert_untouched_buffers(got, produced)


# ------------------------------------------------------------------------------------------------ no dtype
@pytest.mark.parametrize("kind", KINDS)
def test_no_dtype_loads_float32_like_transformers_4(repos, kind):
    repo = repos(kind)
    got = load(OneEncoderPipeline, repo).text_encoder
    wrong = [name for name, t in tensors(got).items() if t.is_floating_point() and t.dtype != FP32]
    assert not wrong, f"{kind}: {wrong[:3]} not float32"
    assert_same_tensors(got, plain_load(type(got), repo, FP32), f"{kind} without dtype, float32 load")
    if not TRANSFORMERS_5:  # before v5, transformers itself loaded in float32 without a dtype
        assert_same_tensors(got, plain_load(type(got), repo), f"{kind} without dtype, plain transformers")


def test_no_dtype_asks_transformers_4_for_nothing(monkeypatch, repos):
    # transformers 4 loads in float32 without a dtype, and 4.49 mishandles an explicit one: the float32 default is
    # only passed to transformers 5, which would otherwise load the checkpoint's dtype.
    seen = {}
    original = CLIPTextModelWithProjection.from_pretrained.__func__

    def spy(cls, path, *args, **kwargs):
        seen.update(kwargs)
        return original(cls, path, *args, **kwargs)

    monkeypatch.setattr(CLIPTextModelWithProjection, "from_pretrained", classmethod(spy))
    load(OneEncoderPipeline, repos("clip"))
    asked = seen.get("dtype", seen.get("torch_dtype"))
    assert asked == (FP32 if TRANSFORMERS_5 else None)


@pytest.mark.parametrize("quantized_by", ["checkpoint", "pipeline"])
def test_no_dtype_leaves_quantized_components_to_their_quantizer(monkeypatch, repos, tmp_path, quantized_by):
    # A component quantized in its checkpoint, or by the pipeline's quantization config, gets no float32 default: its
    # quantizer picks the dtype of what it does not quantize. (transformers is not asked to quantize here: the spy
    # records what it is asked for and builds a plain model.)
    if quantized_by == "pipeline" and not TRANSFORMERS_5:
        pytest.skip("the float32 default is for transformers 5; diffusers 0.39 needs bitsandbytes for this config")
    seen = {}

    def spy(cls, path, *args, **kwargs):
        seen.update(kwargs)
        return tiny_model("clip")[0]

    monkeypatch.setattr(CLIPTextModelWithProjection, "from_pretrained", classmethod(spy))
    repo = shutil.copytree(repos("clip"), tmp_path / "repo")
    kwargs = {}
    if quantized_by == "checkpoint":
        config_path = repo / "text_encoder" / "config.json"
        config = json.loads(config_path.read_text())
        config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
        config_path.write_text(json.dumps(config))
    else:
        from diffusers import PipelineQuantizationConfig

        kwargs["quantization_config"] = PipelineQuantizationConfig(
            quant_backend="bitsandbytes_4bit",
            quant_kwargs={"load_in_4bit": True},
            components_to_quantize=["text_encoder"],
        )
    load(OneEncoderPipeline, str(repo), **kwargs)
    assert seen, "transformers was not asked to load the text encoder"
    assert seen.get("dtype", seen.get("torch_dtype")) is None
    assert ("quantization_config" in seen) == (quantized_by == "pipeline")
