"""Tiny pipelines of each family, built in code, for tests/contract/test_pipeline_families.py.

One module a family. Each holds `CASES`, a list of `Case`: the pipeline class's name, a function that builds its
components (seeded, so that two calls give the same weights; `tokenizers` is a folder of saved tokenizers, see
`tokenizer_folders`), a function that gives the call's inputs, the denoiser's component name, and the patch of the
series that fixes the family (a line whose series does not hold it yet skips the case's fork-side checks).
"""

import dataclasses
from typing import Callable


@dataclasses.dataclass(frozen=True)
class Case:
    pipeline: str
    patch: str  # the patch of lines/<line>/series that fixes this family
    components: Callable  # (tokenizers: dict[str, str]) -> dict of components
    inputs: Callable  # () -> dict of __call__ arguments (a seeded generator, a small size, 2 steps)
    denoiser: str = "unet"
    # keyword arguments of the denoiser's forward (or, as ints, positions of its arguments) that carry the text
    # encoders' outputs (a tensor, or a dict or list of them)
    conditioning: tuple = ("encoder_hidden_states", "added_cond_kwargs")

    @property
    def id(self):
        return self.pipeline


def all_cases():
    from . import deepfloyd_if, flux2, kandinsky, qwenimage, sd, sdxl, shap_e, stable_cascade, z_image

    return [
        *sd.CASES,
        *sdxl.CASES,
        *kandinsky.CASES,
        *deepfloyd_if.CASES,
        *stable_cascade.CASES,
        *shap_e.CASES,
        *qwenimage.CASES,
        *flux2.CASES,
        *z_image.CASES,
    ]
