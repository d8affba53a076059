"""`diffusers-cli dtype-report` (patch diffusers-cli-dtype-report) on the tiny fixtures and hand-made checkpoints."""

import json
import os
import shutil
import struct
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPTextModelWithProjection

from diffusers.commands.dtype_report import DtypeReportCommand, analyse, read_safetensors_header
from forktools.envs import dtype_keyword


def cli(*args):
    code = "from diffusers.commands.diffusers_cli import main; main()"
    proc = subprocess.run([sys.executable, "-c", code, "dtype-report", *args], capture_output=True, text=True)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture
def repo(sd35_repo, tmp_path):
    copy = tmp_path / "pipe"
    shutil.copytree(sd35_repo, copy)
    return copy


def component(report, name):
    return next(c for c in report["components"] if c["name"] == name)


def test_report_predicts_dtypes_memory_and_kept_fp32_modules(repo):
    report = analyse(str(repo), "float16")
    t5 = component(report, "text_encoder_3")
    assert t5["stored_dtypes"] == {"float16": t5["elements"]}
    assert t5["config_dtype"] == "float16"  # what transformers recorded when the fixture was saved
    assert t5["kept_in_fp32"] > 0 and all(".wo." in name for name in t5["kept_in_fp32_examples"])
    fp32 = t5["loaded_dtypes"]["float32"]
    assert t5["load_bytes"] == 2 * (t5["elements"] - fp32) + 4 * fp32
    assert component(report, "vae")["stored_dtypes"] == {"float32": component(report, "vae")["elements"]}
    assert report["total_load_bytes"] == sum(c["load_bytes"] for c in report["components"])
    assert any("text_encoder_3 (T5EncoderModel) in float16 can overflow" in w for w in report["warnings"])
    # The prediction counts exactly the tensors' elements the model has (persistent buffers included).
    model = CLIPTextModelWithProjection.from_pretrained(repo / "text_encoder")
    assert component(report, "text_encoder")["elements"] == sum(t.numel() for t in model.state_dict().values())


def test_cli_json_and_load_check_agree_with_the_live_pipeline(repo):
    request = '{"text_encoder_3": "fp32", "default": "bf16"}'
    code, out, err = cli(str(repo), "--dtype", request, "--json", "--load")
    assert code == 0, err
    report = json.loads(out)
    assert report["drift"] == []
    assert component(report, "text_encoder_3")["load_dtype"] == "float32"
    assert component(report, "transformer")["load_dtype"] == "bfloat16"
    assert any(
        w.startswith("text_encoder_3 will run in float32 while transformer runs in bfloat16")
        for w in report["warnings"]
    )


def test_null_in_a_dtype_dict_means_no_dtype_for_that_component(repo):
    code, out, err = cli(str(repo), "--dtype", '{"text_encoder": null, "default": "bf16"}', "--json", "--load")
    assert code == 0, err
    report = json.loads(out)
    assert report["drift"] == []
    assert component(report, "text_encoder")["load_dtype"] == "float32"  # the loader's default, as for a left-out key
    assert component(report, "transformer")["load_dtype"] == "bfloat16"


def test_mixed_dtype_checkpoint_is_reported_and_loaded_uniformly(repo):
    path = repo / "text_encoder" / "model.safetensors"
    tensors = load_file(path)
    for i, name in enumerate(sorted(tensors)):
        if i % 2:
            tensors[name] = tensors[name].float()
    save_file(tensors, path, metadata={"format": "pt"})
    report = analyse(str(repo), "bfloat16")
    assert set(component(report, "text_encoder")["stored_dtypes"]) == {"float16", "float32"}
    assert any("text_encoder stores its tensors in several dtypes (float16, float32)" in w for w in report["warnings"])
    code, out, err = cli(str(repo), "--dtype", "bf16", "--load")
    assert code == 0, err
    assert "every loaded module matches the prediction" in out


def test_load_exits_1_on_drift(repo, monkeypatch, capsys):
    import diffusers.pipelines.pipeline_loading_utils as loading

    original = CLIPTextModelWithProjection.from_pretrained.__func__

    def legacy(cls, *args, **kwargs):  # transformers 4.49: text_model left in the checkpoint's fp16
        model = original(cls, *args, **kwargs)
        model.text_model.to(torch.float16)
        return model

    monkeypatch.setattr(CLIPTextModelWithProjection, "from_pretrained", classmethod(legacy))
    monkeypatch.setattr(loading, "_repair_partial_dtype_cast", lambda *args: None)
    with pytest.raises(SystemExit) as exit_info:
        DtypeReportCommand(str(repo), "bf16", False, True).run()
    assert exit_info.value.code == 1
    assert "drift: text_encoder.text_model" in capsys.readouterr().out


def test_bad_input_is_one_line_and_exit_code_2(repo, tmp_path, capsys):
    cases = []
    cases.append(((str(tmp_path),), "is not a diffusers pipeline (no model_index.json)"))
    cases.append(((str(repo), "--dtype", "int8"), "unknown dtype: 'int8'"))
    cases.append(((str(repo), "--dtype", "{nope"), "--dtype is not valid JSON"))
    broken = tmp_path / "broken"
    shutil.copytree(repo, broken)
    (broken / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x00\x00")
    cases.append(((str(broken),), "cannot read the safetensors header"))
    missing = tmp_path / "missing"
    shutil.copytree(repo, missing)
    shutil.rmtree(missing / "vae")
    cases.append(((str(missing),), "component vae (AutoencoderKL) is listed in model_index.json but vae/ is missing"))
    # The first case through the real CLI, the others in-process through the same command object.
    code, out, err = cli(*cases[0][0])
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and cases[0][1] in lines[0] and "Traceback" not in err, err
    for args, message in cases[1:]:
        model, dtype = args[0], (args[2] if len(args) > 2 else None)
        with pytest.raises(SystemExit) as exit_info:
            DtypeReportCommand(model, dtype, False, False).run()
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert exit_info.value.code == 2, (args, err)
        assert len(lines) == 1 and message in lines[0] and lines[0].startswith("diffusers-cli dtype-report: error: ")


def sparse_checkpoint(folder, gigabytes):
    """A pipeline folder whose transformer has one float16 tensor of `gigabytes` GB, stored sparsely."""
    os.makedirs(folder / "transformer")
    (folder / "model_index.json").write_text(
        json.dumps({"_class_name": "StableDiffusion3Pipeline", "transformer": ["diffusers", "SD3Transformer2DModel"]})
    )
    (folder / "transformer" / "config.json").write_text(json.dumps({"_class_name": "SD3Transformer2DModel"}))
    rows = int(gigabytes * 1e9) // (2 * 100_000)
    header = json.dumps({"w": {"dtype": "F16", "shape": [rows, 100_000], "data_offsets": [0, rows * 200_000]}})
    path = folder / "transformer" / "diffusion_pytorch_model.safetensors"
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header.encode())
        f.truncate(8 + len(header) + rows * 200_000)
    return path


def peak_rss_kb(folder):
    code = (
        "import resource, sys; from diffusers.commands.dtype_report import analyse; "
        "r = analyse(sys.argv[1], 'bfloat16'); print(r['total_load_bytes'], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, check=True)
    load_bytes, rss = proc.stdout.split()
    return int(load_bytes), int(rss)


def test_a_10_gb_checkpoint_is_read_with_flat_memory(tmp_path):
    big = sparse_checkpoint(tmp_path / "big", 10)
    sparse_checkpoint(tmp_path / "small", 0.001)
    assert read_safetensors_header(str(big))["w"]["shape"][1] == 100_000
    big_bytes, big_rss = peak_rss_kb(tmp_path / "big")
    _, small_rss = peak_rss_kb(tmp_path / "small")
    assert big_bytes >= 9.9e9
    assert big_rss - small_rss < 50_000, f"peak RSS grew by {(big_rss - small_rss) / 1000:.0f} MB for a 10 GB file"


def test_hub_ids_are_read_through_huggingface_hub_headers_only(repo, monkeypatch):
    """The hub code path, served from the local fixture: configs are downloaded, weights only as headers."""
    import huggingface_hub
    from types import SimpleNamespace

    downloaded = []

    def hf_hub_download(repo_id, filename):
        assert repo_id == "someone/sd35-tiny" and not filename.endswith(".safetensors")
        downloaded.append(filename)
        return str(repo / filename)

    def list_repo_files(repo_id):
        return [str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()]

    def parse_safetensors_file_metadata(repo_id, filename):
        header = read_safetensors_header(str(repo / filename))
        tensors = {
            k: SimpleNamespace(dtype=v["dtype"], shape=v["shape"], data_offsets=tuple(v["data_offsets"]))
            for k, v in header.items()
        }
        return SimpleNamespace(tensors=tensors)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "list_repo_files", list_repo_files)
    monkeypatch.setattr(huggingface_hub, "parse_safetensors_file_metadata", parse_safetensors_file_metadata)
    from_hub = analyse("someone/sd35-tiny", "bfloat16")
    local = analyse(str(repo), "bfloat16")
    assert downloaded[0] == "model_index.json"
    assert {f"{name}/config.json" for name in ("text_encoder", "transformer", "vae")} <= set(downloaded)
    assert from_hub["components"] == local["components"]


# ----------------------------------------------------------------------------------------------- review findings


@pytest.fixture(scope="module")
def wan_repo(tmp_path_factory):
    """A tiny WanPipeline stored in bfloat16: its transformer has `_keep_in_fp32_modules`, its text encoder is UMT5."""
    from transformers import UMT5Config, UMT5EncoderModel

    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
    from forktools.upstream.hub_standins import save_t5_tokenizer

    tokenizer = save_t5_tokenizer(str(tmp_path_factory.mktemp("t5-tokenizer")))
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(
        UMT5Config(vocab_size=len(tokenizer), d_model=32, d_ff=64, d_kv=8, num_layers=1, num_heads=4)
    ).eval()
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=4,
        text_dim=32,
        freq_dim=16,
        ffn_dim=16,
        num_layers=2,
        rope_max_seq_len=32,
    )
    vae = AutoencoderKLWan(
        base_dim=4,
        z_dim=4,
        dim_mult=[1, 1],
        num_res_blocks=1,
        temperal_downsample=[False],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    for module in (text_encoder, transformer, vae):
        module.to(torch.bfloat16)
    pipe = WanPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        transformer=transformer,
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )
    path = tmp_path_factory.mktemp("wan-tiny")
    pipe.save_pretrained(path, safe_serialization=True)
    return path


def test_diffusers_models_keep_their_fp32_modules_in_every_dtype(wan_repo):
    """Finding 14: diffusers keeps `_keep_in_fp32_modules` in float32 for bf16 too; transformers only for fp16."""
    # The transformer in bf16 (diffusers' rule), the UMT5 text encoder in fp16 (transformers' rule), in one load.
    request = '{"text_encoder": "fp16", "default": "bf16"}'
    code, out, err = cli(str(wan_repo), "--dtype", request, "--json", "--load")
    assert code == 0, out + err
    report = json.loads(out)
    assert report["drift"] == []
    transformer = component(report, "transformer")
    assert transformer["load_dtype"] == "bfloat16" and transformer["kept_in_fp32"] > 0
    assert any("scale_shift_table" in name for name in transformer["kept_in_fp32_examples"])
    fp32 = transformer["loaded_dtypes"]["float32"]
    assert transformer["load_bytes"] == 2 * (transformer["elements"] - fp32) + 4 * fp32
    assert component(report, "vae")["kept_in_fp32"] == 0  # AutoencoderKLWan keeps nothing
    # The diffusers rule does not leak into transformers models: UMT5 in bf16 keeps nothing in fp32.
    assert component(analyse(str(wan_repo), "bfloat16"), "text_encoder")["kept_in_fp32"] == 0


def test_variant_files_are_not_read_beside_the_plain_ones(repo):
    """Finding 15: `model.fp16-00001-of-00002.safetensors` is a variant, not a plain shard."""
    folder = repo / "text_encoder_3"
    tensors = load_file(folder / "model.safetensors")
    # The plain weights in float32, with a sharded fp16 variant beside them (the layout of many hub repos).
    save_file({k: v.float() for k, v in tensors.items()}, folder / "model.safetensors", metadata={"format": "pt"})
    names = sorted(tensors)
    halves = {1: names[: len(names) // 2], 2: names[len(names) // 2 :]}
    weight_map = {}
    for i, part in halves.items():
        shard = f"model.fp16-{i:05d}-of-00002.safetensors"
        save_file({k: tensors[k] for k in part}, folder / shard, metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, shard))
    (folder / "model.safetensors.index.fp16.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    save_file({k: tensors[k] for k in names}, folder / "model-00001-of-00001.fp16.safetensors")  # legacy spelling
    report = analyse(str(repo), "bfloat16")
    t5 = component(report, "text_encoder_3")
    elements = sum(t.numel() for t in tensors.values())
    assert t5["stored_dtypes"] == {"float32": elements}  # each tensor once, from the plain file
    assert t5["load_bytes"] == 2 * elements
    assert not any(w.startswith("text_encoder_3 stores its tensors in several dtypes") for w in report["warnings"])
    assert t5["elements"] == elements and t5["variant"] is None
    # Without the plain file, the single variant is read, and the report says how to load it.
    os.remove(folder / "model-00001-of-00001.fp16.safetensors")
    os.remove(folder / "model.safetensors")
    report = analyse(str(repo), "bfloat16")
    t5 = component(report, "text_encoder_3")
    assert t5["variant"] == "fp16" and t5["stored_dtypes"] == {"float16": t5["elements"]}
    assert any('load the pipeline with `variant="fp16"`' in w for w in report["warnings"])


def test_a_bin_only_component_is_a_row_not_left_out(repo):
    """Finding 16: a component with only `.bin` weights gets a row saying it cannot be read, out of the totals."""
    folder = repo / "text_encoder"
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    os.remove(folder / "model.safetensors")
    report = analyse(str(repo), "bfloat16")
    assert "text_encoder" in [c["name"] for c in report["components"]], "text_encoder is left out of the report"
    row = component(report, "text_encoder")
    assert row["weights"] == ".bin" and row["elements"] is None and row["load_bytes"] is None
    assert report["not_counted"] == ["text_encoder"]
    assert report["total_load_bytes"] == sum(c["load_bytes"] for c in report["components"] if c is not row)
    assert any(w.startswith("text_encoder has only .bin weights") for w in report["warnings"])
    code, out, err = cli(str(repo), "--dtype", "bf16", "--load")
    assert code == 0, out + err
    assert "| text_encoder | CLIPTextModelWithProjection | ? | .bin (not readable without loading) |" in out
    assert "| total (without text_encoder) |" in out
    assert "every loaded module matches the prediction" in out


def test_offline_or_unreachable_hub_is_not_a_missing_model_index(repo, tmp_path, monkeypatch, capsys):
    """Finding 17: `LocalEntryNotFoundError` (offline, unreachable) is a subclass of `EntryNotFoundError`."""
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "hf-home"))
    code = "from diffusers.commands.diffusers_cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "dtype-report", "someone/sd35-tiny"], capture_output=True, text=True, env=env
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "the hub is offline (HF_HUB_OFFLINE is set)" in lines[0] and "model_index.json" in lines[0]

    def run(error):
        def hf_hub_download(repo_id, filename):
            raise error

        monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
        with pytest.raises(SystemExit) as exit_info:
            DtypeReportCommand("someone/sd35-tiny", None, False, False).run()
        lines = capsys.readouterr().err.strip().splitlines()
        assert exit_info.value.code == 2 and len(lines) == 1
        return lines[0]

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # What hf_hub_download raises when the connection fails and the file is not cached.
    unreachable = run(LocalEntryNotFoundError("An error happened while trying to locate the file on the Hub"))
    assert "the hub cannot be reached" in unreachable and "not a diffusers pipeline" not in unreachable
    # A file the hub says does not exist is what "not a diffusers pipeline" is for.
    assert "is not a diffusers pipeline (no model_index.json)" in run(EntryNotFoundError("404 Client Error"))


def test_unreadable_headers_and_failed_loads_are_one_line_and_exit_code_2(repo, tmp_path, capsys):
    """Finding 18: exit code 1 means drift; a malformed header or a load that fails is one line and exit code 2."""
    path = repo / "transformer" / "diffusion_pytorch_model.safetensors"
    original = path.read_bytes()
    header = json.dumps({"w": {"dtype": "F16", "data_offsets": [0, 2]}}).encode()  # no shape
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x00\x00")
    code, out, err = cli(str(repo))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "cannot read the safetensors header of" in lines[0] and "tensor 'w' has no valid shape" in lines[0]

    def one_line_exit_2(dtype=None, load=False):
        with pytest.raises(SystemExit) as exit_info:
            DtypeReportCommand(str(repo), dtype, False, load).run()
        err = capsys.readouterr().err
        # --load: the loaders' progress bars come before the error line.
        lines = [line for line in err.strip().splitlines() if line.startswith("diffusers-cli dtype-report: ")]
        assert exit_info.value.code == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert err.strip().endswith(lines[0])
        return lines[0]

    header = json.dumps([1, 2]).encode()  # JSON, but not an object
    path.write_bytes(struct.pack("<Q", len(header)) + header)
    assert "is not a JSON object" in one_line_exit_2()
    path.write_bytes(original)
    config = repo / "transformer" / "config.json"
    settings = json.loads(config.read_text())
    config.write_text("{not json")
    assert "cannot read transformer/config.json" in one_line_exit_2()
    # A config that disagrees with its weights: the headers read fine, loading fails.
    config.write_text(json.dumps(dict(settings, joint_attention_dim=settings["joint_attention_dim"] + 8)))
    message = one_line_exit_2("bf16", load=True)
    assert message.startswith(f"diffusers-cli dtype-report: error: --load: cannot load {repo}:"), message


def test_fp32_tensors_kept_by_the_models_own_rule_are_not_a_mixed_checkpoint(repo):
    """Finding 19: a T5 that transformers saved after an fp16 load stores `wo` in fp32; re-saving cannot change it."""
    from transformers import T5EncoderModel

    folder = repo / "text_encoder_3"
    T5EncoderModel.from_pretrained(folder, **{dtype_keyword("transformers"): torch.float16}).save_pretrained(folder)
    tensors = load_file(folder / "model.safetensors")
    fp32 = {name for name, tensor in tensors.items() if tensor.dtype == torch.float32}
    assert fp32 and all(".wo." in name for name in fp32)  # what transformers writes
    report = analyse(str(repo), "bfloat16")
    assert set(component(report, "text_encoder_3")["stored_dtypes"]) == {"float16", "float32"}
    assert not any("text_encoder_3 stores its tensors in several dtypes" in w for w in report["warnings"])
    assert component(report, "text_encoder_3")["mixed_stored_dtypes"] == []
    # A float32 tensor the rule does not keep is still a mix.
    other = next(name for name in sorted(tensors) if name not in fp32 and tensors[name].is_floating_point())
    tensors[other] = tensors[other].float()
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    report = analyse(str(repo), "bfloat16")
    assert any(
        "text_encoder_3 stores its tensors in several dtypes (float16, float32)" in w for w in report["warnings"]
    )


def test_a_nested_dict_in_dtype_is_an_error(repo, capsys):
    """NIT: a dict value was read as float32 without a word (the loader's fallback for a dict where a dtype goes)."""
    with pytest.raises(SystemExit) as exit_info:
        DtypeReportCommand(str(repo), '{"transformer": {"dtype": "bf16"}, "default": "bf16"}', False, False).run()
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1
    assert 'the value for transformer must be a dtype name or null, not {"dtype": "bf16"}' in lines[0]


def test_every_stored_dtype_is_counted_by_its_size(tmp_path):
    """NIT: dtypes missing from the table counted 0 bytes; the header's data offsets give every tensor's size."""
    folder = tmp_path / "pipe"
    os.makedirs(folder / "transformer")
    (folder / "model_index.json").write_text(json.dumps({"transformer": ["diffusers", "SD3Transformer2DModel"]}))
    (folder / "transformer" / "config.json").write_text(json.dumps({"_class_name": "SD3Transformer2DModel"}))
    tensors = {
        "w": ("F16", [4, 4], 32),
        "q": ("F6_E2M3", [8], 6),  # a dtype this report has no entry for
        "u": ("U16", [3], 6),
        "e": ("F8_E8M0", [4], 4),
    }
    header, offset = {}, 0
    for name, (code, shape, size) in tensors.items():
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    data = json.dumps(header).encode()
    (folder / "transformer" / "diffusion_pytorch_model.safetensors").write_bytes(
        struct.pack("<Q", len(data)) + data + bytes(offset)
    )
    report = analyse(str(folder), "bfloat16")
    transformer = component(report, "transformer")
    # Floating point tensors are cast to bf16 (2 bytes); the others keep their stored size.
    assert transformer["load_bytes"] == 16 * 2 + 6 + 6 + 4 * 2
    assert transformer["loaded_dtypes"] == {"bfloat16": 20, "F6_E2M3": 8, "uint16": 3}
    assert transformer["uncounted_elements"] == {}


def test_the_table_counts_tensor_elements(repo):
    """NIT: the count is of the stored tensors' elements (buffers too), and the table says so."""
    from diffusers.commands.dtype_report import render

    table = render(analyse(str(repo), "bfloat16"))
    assert "| component | class | tensor elements |" in table and "parameters" not in table
