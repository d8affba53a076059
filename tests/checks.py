"""Assertions shared by the fast and the slow tests."""

import torch


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
