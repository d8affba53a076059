"""Every pipeline family with text encoders: the conditioning reaches the denoiser in the denoiser's dtype.

For each case of tests/contract/families/ (tiny components built in code), the pipeline runs with its text encoders
in another dtype than every other component: M text encoders fp32, the rest bf16; R text encoders bf16, the rest
fp32; H text encoders fp16, the rest bf16. On the fork it runs, and the denoiser receives the conditioning in its own
dtype. Pristine upstream (its sdist tree first on PYTHONPATH, in a subprocess) runs the same setups and the uniform
ones (every component bf16, every component fp32): where it ran, the fork gives the same output bit for bit, and the
fork runs every mixed setup pristine crashed in.
"""

import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import torch

import diffusers
from tests.contract.families import all_cases
from tests.contract.test_dtype_arguments import pristine_src


ROOT = Path(__file__).resolve().parents[2]
SETUPS = {  # (text encoders, every other component)
    "U-bf16": (torch.bfloat16, torch.bfloat16),
    "U-fp32": (torch.float32, torch.float32),
    "M": (torch.float32, torch.bfloat16),
    "R": (torch.bfloat16, torch.float32),
    "H": (torch.float16, torch.bfloat16),
}
MIXED = ("M", "R", "H")
CASES = {case.id: case for case in all_cases()}


def applied_patches():
    """The patches of the series applied to the imported diffusers tree (its src/.applied), or None if unknown."""
    state = Path(diffusers.__file__).resolve().parents[1] / ".applied"
    return json.loads(state.read_text())["applied"] if state.is_file() else None


def require_fix(case):
    applied = applied_patches()
    if applied is not None and case.patch not in applied:
        pytest.skip(f"{case.patch} is not in this line's series yet: {case.pipeline} is not fixed here")


def tokenizer_folders(folder):
    from forktools.upstream import hub_standins

    clip = os.path.join(folder, "clip")
    if not os.path.isdir(clip):
        hub_standins.save_clip_tokenizer(clip)
    t5 = os.path.join(folder, "t5")
    if not os.path.isdir(t5):
        hub_standins.save_t5_tokenizer(t5)
    return {"clip": clip, "t5": t5}


def run(case, setup, tokenizers):
    """The case's output in `setup`, and the dtypes of the conditioning its denoiser received."""
    text_dtype, dtype = SETUPS[setup]
    components = case.components(tokenizers)
    for name, component in components.items():
        if isinstance(component, torch.nn.Module):
            component.to(text_dtype if name.startswith("text_encoder") else dtype)
    pipe = case.build(components) if case.build else getattr(diffusers, case.pipeline)(**components)
    pipe.set_progress_bar_config(disable=True)
    seen = set()

    def record(module, args, kwargs):
        for key in case.conditioning:
            value = args[key] if isinstance(key, int) else kwargs.get(key)  # an int names a positional argument
            if isinstance(value, dict):
                value = list(value.values())
            for tensor in value if isinstance(value, (list, tuple)) else [value]:
                if torch.is_tensor(tensor) and tensor.is_floating_point():
                    seen.add(str(tensor.dtype))

    getattr(pipe, case.denoiser).register_forward_pre_hook(record, with_kwargs=True)
    with torch.no_grad():
        output = pipe(**case.inputs())[0]
    if isinstance(output, list):
        output = torch.stack([torch.as_tensor(x) for x in output])
    return torch.as_tensor(output), sorted(seen)


def upstream_main(out_folder):
    """Run in the pristine subprocess: every case in every setup; outputs and errors written to `out_folder`."""
    tokenizers = tokenizer_folders(os.path.join(out_folder, "tokenizers"))
    results = {}
    for case_id, case in CASES.items():
        for setup in SETUPS:
            try:
                output, _ = run(case, setup, tokenizers)
                torch.save(output, os.path.join(out_folder, f"{case_id}-{setup}.pt"))
                results[f"{case_id} {setup}"] = "ok"
            except Exception as error:
                frame = traceback.extract_tb(error.__traceback__)[-1]
                results[f"{case_id} {setup}"] = f"{type(error).__name__}: {error} ({Path(frame.filename).name})"
    Path(out_folder, "results.json").write_text(json.dumps(results, indent=1))
    Path(out_folder, "version").write_text(f"{diffusers.__version__} {diffusers.__file__}")


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    return tokenizer_folders(str(tmp_path_factory.mktemp("tokenizers")))


@pytest.fixture(scope="module")
def upstream(tmp_path_factory):
    if "+" not in diffusers.__version__:
        pytest.skip(f"diffusers {diffusers.__version__} is not the fork (no local version label)")
    src = pristine_src()
    out = tmp_path_factory.mktemp("upstream-families")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(src), os.environ.get("PYTHONPATH")])))
    code = "import sys; from tests.contract.test_pipeline_families import upstream_main; upstream_main(sys.argv[1])"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    version, location = (out / "version").read_text().split(" ", 1)
    assert "+" not in version and location.startswith(str(src)), f"the subprocess ran diffusers {version} {location}"
    return out, json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("setup", MIXED)
@pytest.mark.parametrize("case_id", sorted(CASES))
def test_mixed_text_encoder_dtypes_reach_the_denoiser_in_its_dtype(case_id, setup, tokenizers):
    require_fix(CASES[case_id])
    output, seen = run(CASES[case_id], setup, tokenizers)
    dtype = str(SETUPS[setup][1])
    assert seen == [dtype], f"{CASES[case_id].denoiser} ({dtype}) received the conditioning in {seen}"
    assert torch.isfinite(output.float()).all()


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_uniform_dtypes_bit_identical_to_upstream(case_id, tokenizers, upstream):
    folder, results = upstream
    for setup in ("U-bf16", "U-fp32"):
        assert results[f"{case_id} {setup}"] == "ok", (
            f"pristine upstream fails {setup}: {results[f'{case_id} {setup}']}"
        )
        expected = torch.load(folder / f"{case_id}-{setup}.pt")
        got, _ = run(CASES[case_id], setup, tokenizers)
        assert got.dtype == expected.dtype and got.shape == expected.shape, setup
        assert torch.equal(got, expected), f"{setup}: differs from upstream by {(got - expected).abs().max()}"


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_upstream_crashes_in_a_mixed_setup(case_id, upstream):
    # What the fork fixes: pristine fails at least one of the mixed setups the fork runs (else the case proves nothing).
    _, results = upstream
    crashed = [setup for setup in MIXED if results[f"{case_id} {setup}"] != "ok"]
    assert crashed, f"pristine upstream runs every mixed setup of {case_id}: nothing to fix"
