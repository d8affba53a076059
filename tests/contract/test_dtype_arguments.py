"""One treatment of `dtype` values at every loading entry point (patch loader-dtype-names-and-bad-values), on the tiny
SD3.5-layout pipeline.

Entry points: `DiffusionPipeline.from_pretrained`, `ModelMixin.from_pretrained`, `from_single_file` (a pipeline and
models, from original-layout checkpoints built here), `from_pipe`, `ComponentSpec.load` and
`ModularPipeline.load_components`. A torch dtype and its names ("bfloat16", "torch.float16", "half", "bf16", "fp16")
load in that dtype; "auto" keeps upstream's meaning (float32, with a warning naming the value); an unknown name or an
integer dtype is a ValueError naming the value (and the component, for a value of a dtype dict); `from_pipe` refuses a
dtype dict with a TypeError, as upstream did.

Parity: where upstream's answer was already right (torch dtypes, dicts of them, "auto" where upstream loads float32,
names in a dtype dict that upstream handed to transformers), the fork loads every tensor in the dtype pristine
upstream does, and uniform bf16/fp32 loads encode and generate bit for bit as upstream does (pristine upstream runs in
a subprocess, its sdist tree first on PYTHONPATH).
"""

import json
import logging
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPTextModelWithProjection, T5EncoderModel

import diffusers
from diffusers import (
    AutoencoderKL,
    DiffusionPipeline,
    SD3Transformer2DModel,
    StableDiffusion3Img2ImgPipeline,
    StableDiffusion3Pipeline,
)
from tests.checks import DTYPE_KWARG, assert_module_dtype, pristine_src


BF16, FP16, FP32 = torch.bfloat16, torch.float16, torch.float32
ROOT = Path(__file__).resolve().parents[2]
PROMPT = "a photo of a cat"
PIPELINE_COMPONENTS = ("text_encoder", "text_encoder_2", "text_encoder_3", "transformer", "vae")
NAMES = {"bfloat16": BF16, "torch.float16": FP16, "half": FP16, "bf16": BF16, "fp16": FP16}
# Upstream's warning, naming the component or class when the entry point knows it.
AUTO_WARNING = re.compile(
    rf"Passed `{DTYPE_KWARG}` auto( for `\w+`)? is not a `torch.dtype`\. Defaulting to `torch.float32`\."
)


# ------------------------------------------------------------------------------- original-layout single files
def _state_dict(folder):
    tensors = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".safetensors"):
            tensors.update(load_file(os.path.join(folder, name)))
    return tensors


def _swap_halves(weight):  # the SD3 converter's swap_scale_shift, an involution
    shift, scale = weight.chunk(2, dim=0)
    return torch.cat([scale, shift], dim=0)


def original_sd3_transformer(tensors, num_layers):
    """Diffusers SD3 transformer weights in the original MMDiT layout (inverse of diffusers' converter)."""
    out = {"pos_embed": tensors["pos_embed.pos_embed"]}
    renames = {
        "x_embedder.proj": "pos_embed.proj",
        "t_embedder.mlp.0": "time_text_embed.timestep_embedder.linear_1",
        "t_embedder.mlp.2": "time_text_embed.timestep_embedder.linear_2",
        "y_embedder.mlp.0": "time_text_embed.text_embedder.linear_1",
        "y_embedder.mlp.2": "time_text_embed.text_embedder.linear_2",
        "context_embedder": "context_embedder",
        "final_layer.linear": "proj_out",
    }
    for s in ("weight", "bias"):
        out.update({f"{old}.{s}": tensors[f"{new}.{s}"] for old, new in renames.items()})
        out[f"final_layer.adaLN_modulation.1.{s}"] = _swap_halves(tensors[f"norm_out.linear.{s}"])
        for i in range(num_layers):
            o, d = f"joint_blocks.{i}", f"transformer_blocks.{i}"
            out[f"{o}.x_block.attn.qkv.{s}"] = torch.cat([tensors[f"{d}.attn.to_{x}.{s}"] for x in "qkv"])
            out[f"{o}.context_block.attn.qkv.{s}"] = torch.cat([tensors[f"{d}.attn.add_{x}_proj.{s}"] for x in "qkv"])
            out[f"{o}.x_block.attn.proj.{s}"] = tensors[f"{d}.attn.to_out.0.{s}"]
            out[f"{o}.x_block.adaLN_modulation.1.{s}"] = tensors[f"{d}.norm1.linear.{s}"]
            out[f"{o}.x_block.mlp.fc1.{s}"] = tensors[f"{d}.ff.net.0.proj.{s}"]
            out[f"{o}.x_block.mlp.fc2.{s}"] = tensors[f"{d}.ff.net.2.{s}"]
            if i < num_layers - 1:
                out[f"{o}.context_block.attn.proj.{s}"] = tensors[f"{d}.attn.to_add_out.{s}"]
                out[f"{o}.context_block.adaLN_modulation.1.{s}"] = tensors[f"{d}.norm1_context.linear.{s}"]
                out[f"{o}.context_block.mlp.fc1.{s}"] = tensors[f"{d}.ff_context.net.0.proj.{s}"]
                out[f"{o}.context_block.mlp.fc2.{s}"] = tensors[f"{d}.ff_context.net.2.{s}"]
            else:  # the last block is context_pre_only
                out[f"{o}.context_block.adaLN_modulation.1.{s}"] = _swap_halves(
                    tensors[f"{d}.norm1_context.linear.{s}"]
                )
    return {f"model.diffusion_model.{k}": v for k, v in out.items()}


def original_ldm_vae(tensors, num_up_blocks):
    """Diffusers AutoencoderKL weights in the original LDM layout (inverse of `convert_ldm_vae_checkpoint`)."""

    def up(match):  # the original decoder counts its up blocks the other way round
        return f"decoder.up.{num_up_blocks - 1 - int(match[1])}.{'block' if match[2] == 'resnets' else 'upsample'}"

    def rename(key):
        key = key.replace("coder.conv_norm_out", "coder.norm_out").replace("conv_shortcut", "nin_shortcut")
        key = re.sub(r"encoder\.down_blocks\.(\d+)\.resnets\.", r"encoder.down.\1.block.", key)
        key = re.sub(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.", r"encoder.down.\1.downsample.", key)
        key = re.sub(r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers\.0)", up, key)
        key = re.sub(r"coder\.mid_block\.resnets\.(\d+)\.", lambda m: f"coder.mid.block_{int(m[1]) + 1}.", key)
        key = key.replace("mid_block.attentions.0.", "mid.attn_1.")
        for new, old in [
            ("group_norm", "norm"),
            ("to_q", "q"),
            ("to_k", "k"),
            ("to_v", "v"),
            ("to_out.0", "proj_out"),
        ]:
            key = key.replace(f"attn_1.{new}.", f"attn_1.{old}.")
        return key

    return {f"first_stage_model.{rename(k)}": v for k, v in tensors.items()}


@pytest.fixture(scope="module")
def files(sd35_repo, tmp_path_factory):
    """The tiny SD3.5 pipeline as single files: its transformer, its VAE and all of it, in the original layouts."""
    folder = tmp_path_factory.mktemp("single-files")
    config = json.loads(Path(sd35_repo, "transformer", "config.json").read_text())
    transformer = original_sd3_transformer(_state_dict(os.path.join(sd35_repo, "transformer")), config["num_layers"])
    vae_config = json.loads(Path(sd35_repo, "vae", "config.json").read_text())
    vae = original_ldm_vae(_state_dict(os.path.join(sd35_repo, "vae")), len(vae_config["up_block_types"]))
    everything = {**transformer, **vae}
    prefixes = {"text_encoder": "clip_l", "text_encoder_2": "clip_g", "text_encoder_3": "t5xxl"}
    for name, prefix in prefixes.items():
        tensors = _state_dict(os.path.join(sd35_repo, name))
        if name == "text_encoder":  # SD3 checkpoints hold no CLIP-L projection (the loader uses the identity)
            del tensors["text_projection.weight"]
        if name == "text_encoder_3":  # T5's tied embedding, saved once by transformers, stored under both names
            tensors["encoder.embed_tokens.weight"] = tensors["shared.weight"].clone()
        everything.update({f"text_encoders.{prefix}.transformer.{k}": v for k, v in tensors.items()})
    # The converters diffusers loads them with give the saved weights back, every one.
    from diffusers.loaders.single_file_utils import (
        convert_ldm_vae_checkpoint,
        convert_sd3_transformer_checkpoint_to_diffusers,
    )

    for saved, converted in [
        (
            _state_dict(os.path.join(sd35_repo, "transformer")),
            convert_sd3_transformer_checkpoint_to_diffusers(dict(transformer)),
        ),
        (_state_dict(os.path.join(sd35_repo, "vae")), convert_ldm_vae_checkpoint(dict(vae), vae_config)),
    ]:
        assert sorted(converted) == sorted(saved) and all(torch.equal(converted[k], saved[k]) for k in saved)
    paths = {"repo": sd35_repo}
    for name, tensors in [("transformer", transformer), ("vae", vae), ("pipeline", everything)]:
        paths[name] = str(folder / f"{name}.safetensors")
        save_file({k: v.contiguous() for k, v in tensors.items()}, paths[name])
    return paths


# --------------------------------------------------------------------------------------------- entry points
def _pipeline_parts(pipe):
    return {name: getattr(pipe, name) for name in PIPELINE_COMPONENTS}


def _modular_pipeline(repo):
    from diffusers.modular_pipelines import StableDiffusion3AutoBlocks

    return StableDiffusion3AutoBlocks().init_pipeline(repo)


def _component_specs(repo):
    from diffusers.modular_pipelines import ComponentSpec

    classes = {
        "transformer": SD3Transformer2DModel,
        "text_encoder": CLIPTextModelWithProjection,
        "text_encoder_3": T5EncoderModel,
    }
    return [
        ComponentSpec(name=name, type_hint=cls, pretrained_model_name_or_path=repo, subfolder=name)
        for name, cls in classes.items()
    ]


def _from_pipe(paths, kwargs):
    base = StableDiffusion3Pipeline.from_pretrained(paths["repo"], **{DTYPE_KWARG: FP32})
    return _pipeline_parts(StableDiffusion3Img2ImgPipeline.from_pipe(base, **kwargs))


def _load_components(paths, kwargs):
    pipe = _modular_pipeline(paths["repo"])
    pipe.load_components(**kwargs)
    return {name: getattr(pipe, name, None) for name in PIPELINE_COMPONENTS}


ENTRY_POINTS = {
    "DiffusionPipeline.from_pretrained": lambda paths, kwargs: _pipeline_parts(
        DiffusionPipeline.from_pretrained(paths["repo"], **kwargs)
    ),
    "ModelMixin.from_pretrained": lambda paths, kwargs: {
        "transformer": SD3Transformer2DModel.from_pretrained(paths["repo"], subfolder="transformer", **kwargs),
        "vae": AutoencoderKL.from_pretrained(paths["repo"], subfolder="vae", **kwargs),
    },
    "model.from_single_file": lambda paths, kwargs: {
        "transformer": SD3Transformer2DModel.from_single_file(
            paths["transformer"], config=paths["repo"], subfolder="transformer", **kwargs
        ),
        "vae": AutoencoderKL.from_single_file(paths["vae"], config=paths["repo"], subfolder="vae", **kwargs),
    },
    "pipeline.from_single_file": lambda paths, kwargs: _pipeline_parts(
        StableDiffusion3Pipeline.from_single_file(paths["pipeline"], config=paths["repo"], **kwargs)
    ),
    "from_pipe": _from_pipe,
    "ComponentSpec.load": lambda paths, kwargs: {
        spec.name: spec.load(**kwargs) for spec in _component_specs(paths["repo"])
    },
    "load_components": _load_components,
}
# The entry points that take a dtype dict ({"component": dtype, "default": dtype}).
DICT_ENTRY_POINTS = ("DiffusionPipeline.from_pretrained", "load_components")


def load_with(entry, paths, dtype):
    parts = ENTRY_POINTS[entry](paths, {DTYPE_KWARG: dtype})
    assert parts and all(isinstance(m, torch.nn.Module) for m in parts.values()), f"{entry}: {parts}"
    for name, module in parts.items():
        on_meta = [n for n, p in module.named_parameters() if p.device.type == "meta"]
        assert not on_meta, f"{entry}: {name}.{on_meta[0]} was not loaded"
    return parts


@contextmanager
def diffusers_warnings():
    """The messages diffusers logs at WARNING and above (its root logger does not propagate to pytest's caplog)."""
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger = logging.getLogger("diffusers")
    handler, level = Collect(logging.WARNING), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# ------------------------------------------------------------------------------------------ values, one by one
@pytest.mark.parametrize("value", [BF16, FP16, *NAMES], ids=repr)
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_torch_dtype_and_its_names(files, entry, value):
    expected = NAMES.get(value, value)
    for name, module in load_with(entry, files, value).items():
        if entry == "from_pipe":
            # from_pipe casts the pipeline with `.to(dtype)`, as upstream does: every parameter, T5's `wo` included
            # (from_pretrained keeps it in float32 for float16).
            dtypes = {p.dtype for p in module.parameters() if p.is_floating_point()}
            assert dtypes == {expected}, f"{entry}: {name} holds {dtypes}"
        else:
            assert_module_dtype(module, expected, f"{entry}: {name}")


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_auto_means_float32_with_upstreams_warning(files, entry):
    with diffusers_warnings() as messages:
        parts = load_with(entry, files, "auto")
    for name, module in parts.items():
        assert_module_dtype(module, FP32, f"{entry}: {name}")
    assert any(AUTO_WARNING.fullmatch(message) for message in messages), f"{entry} logged {messages}"


def bad_value_error(value, component=None, optional=False):
    target = f" for `{component}`" if component else ""
    if optional:
        target = f"(?:{target})?"
    return rf"`{DTYPE_KWARG}`{target} must be a floating point `torch.dtype`.*but got {re.escape(repr(value))}"


@pytest.mark.parametrize("value", ["float42", "torch.bf16", torch.int64], ids=repr)
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_values_that_cannot_work_are_a_value_error_naming_them(files, entry, value):
    # Each entry point names what the value was for where it knows it: the component, or the class it loads.
    with pytest.raises(ValueError, match=bad_value_error(value, r"\w+", optional=True)):
        ENTRY_POINTS[entry](files, {DTYPE_KWARG: value})


@pytest.mark.parametrize("value", ["fp42", torch.int8], ids=repr)
@pytest.mark.parametrize("entry", DICT_ENTRY_POINTS)
def test_bad_value_in_a_dtype_dict_names_the_component(files, entry, value):
    with pytest.raises(ValueError, match=bad_value_error(value, "text_encoder_2")):
        ENTRY_POINTS[entry](files, {DTYPE_KWARG: {"text_encoder_2": value, "default": "bf16"}})


def test_from_pipe_refuses_a_dtype_dict_as_upstream_did(files):
    # from_pipe casts the whole pipeline to one dtype; upstream failed on a dict with a TypeError from `.to()`.
    with pytest.raises(TypeError, match="one dtype for the whole pipeline, but got {'transformer': torch.bfloat16}"):
        _from_pipe(files, {DTYPE_KWARG: {"transformer": BF16}})


@pytest.mark.parametrize("entry", DICT_ENTRY_POINTS)
def test_dtype_dict_with_names(files, entry):
    layout = {"text_encoder_3": "float32", "transformer": "bf16", "vae": "torch.bfloat16", "default": "fp16"}
    expected = {"text_encoder_3": FP32, "transformer": BF16, "vae": BF16, "text_encoder": FP16, "text_encoder_2": FP16}
    parts = load_with(entry, files, layout)
    assert set(parts) == set(expected)
    for name, module in parts.items():
        assert_module_dtype(module, expected[name], f"{entry}: {name}")


# ------------------------------------------------------------------------------------ parity with upstream
# Values whose result upstream already got right on this line; "auto" only where upstream loads everything in
# float32 (from_pipe raised a TypeError upstream, and the modular loaders passed it on to transformers, whose "auto" is
# the checkpoint's dtype, beside float32 diffusers models).
PARITY = {
    "bf16": BF16,
    "fp16": FP16,
    "fp32": FP32,
    "dict": {"text_encoder_3": FP32, "transformer": BF16, "default": FP16},
    # Names of torch dtypes for transformers components, which upstream passed on to transformers.
    "dict-names": {"text_encoder": "half", "text_encoder_3": "float64", "transformer": BF16, "default": FP16},
    "auto": "auto",
}
PARITY_NAMES = {"half": FP16, "float64": torch.float64}
PARITY_AUTO = (
    "DiffusionPipeline.from_pretrained",
    "ModelMixin.from_pretrained",
    "model.from_single_file",
    "pipeline.from_single_file",
)


def parity_cases():
    for entry in sorted(ENTRY_POINTS):
        for label in PARITY:
            if (not label.startswith("dict") or entry in DICT_ENTRY_POINTS) and (
                label != "auto" or entry in PARITY_AUTO
            ):
                yield entry, label


def expected_dtype(label, name):
    value = PARITY[label]
    if isinstance(value, dict):
        value = value.get(name, value["default"])
        return PARITY_NAMES.get(value, value)
    return FP32 if value == "auto" else value


def tensor_dtypes(paths):
    """
    {"entry label": {component: {tensor: dtype}} or "error"} for every parity case, with "right" listing the cases
    whose every component is in the dtype asked for (by `assert_module_dtype`'s rule), on the diffusers of this process.
    """
    found, right = {}, []
    for entry, label in parity_cases():
        case = f"{entry} {label}"
        try:
            parts = ENTRY_POINTS[entry](paths, {DTYPE_KWARG: PARITY[label]})
        except Exception as error:
            found[case] = f"{type(error).__name__}: {error}"
            continue
        found[case] = {
            name: {n: str(t.dtype) for n, t in [*m.named_parameters(), *m.named_buffers()] if t.is_floating_point()}
            for name, m in parts.items()
        }
        try:
            for name, module in parts.items():
                assert_module_dtype(module, expected_dtype(label, name), name)
            right.append(case)
        except AssertionError:
            pass
    return {"dtypes": found, "right": right}


def generate_outputs(repo, dtype):
    """`encode_prompt`'s four tensors and a 2-step 32x32 image of a uniform `dtype` load, seed 0."""
    pipe = StableDiffusion3Pipeline.from_pretrained(repo, **{DTYPE_KWARG: dtype})
    embeds = pipe.encode_prompt(PROMPT, None, None, do_classifier_free_guidance=True)
    image = pipe(
        PROMPT,
        num_inference_steps=2,
        height=32,
        width=32,
        output_type="pt",
        generator=torch.Generator().manual_seed(0),
    ).images
    return {**{f"embeds_{i}": t for i, t in enumerate(embeds)}, "image": image}


def upstream_main(paths_json, out_folder):
    """Run in the pristine subprocess: the parity probe and the uniform loads' outputs, written to `out_folder`."""
    paths = json.loads(paths_json)
    Path(out_folder, "dtypes.json").write_text(json.dumps(tensor_dtypes(paths)))
    for label in ("bf16", "fp32"):
        try:
            outputs = generate_outputs(paths["repo"], PARITY[label])
        except Exception as error:  # upstream's own failure (transformers 4.49's partial cast, for one)
            outputs = {"error": f"{type(error).__name__}: {error}"}
        torch.save(outputs, os.path.join(out_folder, f"outputs-{label}.pt"))
    Path(out_folder, "version").write_text(f"{diffusers.__version__} {diffusers.__file__}")


@pytest.fixture(scope="module")
def upstream(files, tmp_path_factory):
    if "+" not in diffusers.__version__:
        pytest.skip(f"diffusers {diffusers.__version__} is not the fork (no local version label)")
    src = pristine_src()
    out = tmp_path_factory.mktemp("upstream")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")])))
    code = "import sys; from tests.contract.test_dtype_arguments import upstream_main; upstream_main(*sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(files), str(out)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    version, location = (out / "version").read_text().split(" ", 1)
    assert "+" not in version and location.startswith(str(src)), f"the subprocess ran diffusers {version} {location}"
    return out


def test_component_dtypes_match_upstream_where_upstream_was_right(files, upstream):
    expected = json.loads((upstream / "dtypes.json").read_text())
    got = tensor_dtypes(files)
    assert sorted(got["dtypes"]) == sorted(expected["dtypes"])
    assert expected["right"], "upstream got no case right: nothing to compare"
    # Names in a dtype dict reached transformers upstream, which loaded those components in the named dtype.
    assert "DiffusionPipeline.from_pretrained dict-names" in expected["right"]
    differences = []
    for case in expected["right"]:
        mine = got["dtypes"][case]
        if isinstance(mine, str):
            differences.append(f"{case}: upstream loads, the fork raises {mine}")
            continue
        for name, tensors in expected["dtypes"][case].items():
            wrong = {n: (mine[name].get(n), d) for n, d in tensors.items() if mine[name].get(n) != d}
            if wrong or sorted(mine[name]) != sorted(tensors):
                differences.append(f"{case} {name}: (fork, upstream) {wrong or sorted(mine[name])}")
    assert not differences, "\n".join(differences[:10])
    # Where upstream was right, so is the fork (it is right in more cases: names, "auto" everywhere...).
    assert set(expected["right"]) <= set(got["right"])


@pytest.mark.parametrize("label", ["bf16", "fp32"])
def test_uniform_loads_encode_and_generate_bit_identical_to_upstream(files, upstream, label):
    expected = torch.load(upstream / f"outputs-{label}.pt")
    if "error" in expected:
        pytest.skip(f"pristine upstream fails a uniform {label} load on this line: {expected['error']}")
    got = generate_outputs(files["repo"], PARITY[label])
    assert sorted(got) == sorted(expected)
    for key, tensor in expected.items():
        assert got[key].dtype == tensor.dtype, f"{key}: {got[key].dtype} vs upstream {tensor.dtype}"
        assert torch.equal(got[key], tensor), f"{key} differs from upstream by {(got[key] - tensor).abs().max()}"
