"""`diffusers-cli dtype-report` (patch 0004) on the tiny fixture and hand-made checkpoints."""

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
    assert t5["stored_dtypes"] == {"float16": t5["parameters"]}
    assert t5["config_dtype"] == "float16"  # what transformers recorded when the fixture was saved
    assert t5["kept_in_fp32"] > 0 and all(".wo." in name for name in t5["kept_in_fp32_examples"])
    fp32 = t5["loaded_dtypes"]["float32"]
    assert t5["load_bytes"] == 2 * (t5["parameters"] - fp32) + 4 * fp32
    assert component(report, "vae")["stored_dtypes"] == {"float32": component(report, "vae")["parameters"]}
    assert report["total_load_bytes"] == sum(c["load_bytes"] for c in report["components"])
    assert any("text_encoder_3 (T5EncoderModel) in float16 can overflow" in w for w in report["warnings"])
    # The prediction counts exactly the tensors the model has.
    model = CLIPTextModelWithProjection.from_pretrained(repo / "text_encoder")
    assert component(report, "text_encoder")["parameters"] == sum(t.numel() for t in model.state_dict().values())


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
        tensors = {k: SimpleNamespace(dtype=v["dtype"], shape=v["shape"]) for k, v in header.items()}
        return SimpleNamespace(tensors=tensors)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "list_repo_files", list_repo_files)
    monkeypatch.setattr(huggingface_hub, "parse_safetensors_file_metadata", parse_safetensors_file_metadata)
    from_hub = analyse("someone/sd35-tiny", "bfloat16")
    local = analyse(str(repo), "bfloat16")
    assert downloaded[0] == "model_index.json"
    assert {f"{name}/config.json" for name in ("text_encoder", "transformer", "vae")} <= set(downloaded)
    assert from_hub["components"] == local["components"]
