"""Tiny pipelines of each family, built in code, for tests/contract/test_pipeline_families.py.

One module a family. Each holds `CASES`, a list of `Case`: the pipeline class's name, a function that builds its
components (seeded, so that two calls give the same weights; `tokenizers` is a folder of saved tokenizers, see
`tokenizer_folders`), a function that gives the call's inputs, the denoiser's component name, and the patch of the
series that fixes the family (a line whose series does not hold it yet skips the case's fork-side checks).
"""

import dataclasses
import importlib
import os
import pkgutil
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Case:
    pipeline: str
    patch: str  # the patch of lines/<line>/series that fixes this family
    components: Callable  # (tokenizers: dict[str, str]) -> dict of components
    inputs: Callable  # () -> dict of __call__ arguments (a seeded generator, a small size, 2 steps)
    denoiser: str = "unet"
    # keyword arguments of the denoiser's forward that carry the text encoders' outputs (a tensor or a dict of them)
    conditioning: tuple = ("encoder_hidden_states", "added_cond_kwargs")
    # (components) -> pipeline, for a pipeline that is not `getattr(diffusers, pipeline)(**components)` (modular
    # blocks); `pipeline` then only names the case
    build: Callable = None

    @property
    def id(self):
        return self.pipeline


def tokenizer_folder(tokenizers, name, save, **kwargs):
    """The folder of the tokenizer stand-in `name` beside the folders of `tokenizers`, saved by `save(folder, **kwargs)`
    the first time."""
    folder = os.path.join(os.path.dirname(tokenizers["t5"]), name)
    if not os.path.isdir(folder):
        save(folder, **kwargs)
    return folder


def all_cases():
    """Every module's `CASES`, in module name order."""
    cases = []
    for module in sorted(info.name for info in pkgutil.iter_modules(__path__)):
        cases += importlib.import_module(f"{__name__}.{module}").CASES
    return cases


def modular_blocks(name, **attributes):
    """A `Case.build` for the modular blocks `name` of diffusers.modular_pipelines, its `attributes` set on the
    pipeline (the tiny VAEs need another image processor than the blocks' default, as in upstream's tests)."""

    def build(components):
        import diffusers.modular_pipelines

        pipe = getattr(diffusers.modular_pipelines, name)().init_pipeline()
        pipe.update_components(**components)
        for key, value in attributes.items():
            setattr(pipe, key, value())
        return pipe

    return build
