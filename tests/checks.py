"""Helpers shared by the fast and the slow tests, on every line of the fork."""

import pytest
import torch

import diffusers
from forktools.envs import dtype_keyword
from forktools.lines import LineError, of_version


DTYPE_KWARG = dtype_keyword("diffusers")
NO_DTYPE = object()


def load(cls, location, dtype=NO_DTYPE, **kwargs):
    """`cls.from_pretrained(location, dtype=dtype, **kwargs)` with the dtype keyword of the installed diffusers."""
    if dtype is not NO_DTYPE:
        kwargs[DTYPE_KWARG] = dtype
    return cls.from_pretrained(location, **kwargs)


def transformers_load(cls, location, dtype):
    """A plain transformers `from_pretrained` in `dtype`, with the keyword the installed transformers takes."""
    return cls.from_pretrained(location, **{dtype_keyword("transformers"): dtype})


def pristine_src():
    """The `src` folder of the pristine release the imported fork patches (what `make vendor` extracts), or a skip."""
    try:
        line = of_version(diffusers.__version__)
    except LineError as error:
        pytest.skip(str(error))
    if not (line.pristine / "__init__.py").is_file():
        pytest.skip(
            f"no pristine diffusers {line.version} tree in {line.pristine}: run `make vendor LINE={line.name}`"
        )
    return line.pristine.parent


def assert_module_dtype(module, dtype, name):
    """
    Assert that every floating parameter and buffer of `module` is in `dtype`, apart from the modules transformers
    keeps in float32 (`_keep_in_fp32_modules` when `dtype` is float16, `_keep_in_fp32_modules_strict` always).
    """
    keep = set(getattr(module, "_keep_in_fp32_modules", None) or []) if dtype == torch.float16 else set()
    keep |= set(getattr(module, "_keep_in_fp32_modules_strict", None) or [])
    wrong = []
    for tensor_name, tensor in [*module.named_parameters(), *module.named_buffers()]:
        expected = torch.float32 if keep and not keep.isdisjoint(tensor_name.split(".")) else dtype
        if tensor.is_floating_point() and tensor.dtype != expected:
            wrong.append(f"{name}.{tensor_name} is {tensor.dtype}, expected {expected}")
    assert not wrong, f"{wrong[0]} ({len(wrong)} tensors not as expected)"


def assert_same_tensors(got, expected, what):
    """Assert that two modules hold the same parameters and buffers (non-persistent ones too): names, dtypes, values."""
    got_tensors = dict([*got.named_parameters(), *got.named_buffers()])
    expected_tensors = dict([*expected.named_parameters(), *expected.named_buffers()])
    assert sorted(got_tensors) == sorted(expected_tensors), what
    for name, tensor in expected_tensors.items():
        assert got_tensors[name].dtype == tensor.dtype, (
            f"{what}: {name} is {got_tensors[name].dtype}, not {tensor.dtype}"
        )
        assert torch.equal(got_tensors[name], tensor), f"{what}: {name} differs in value"
