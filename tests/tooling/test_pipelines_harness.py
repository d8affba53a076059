"""forktools.measure.pipelines on a synthetic upstream test tree: which pipelines crash in which setup, per family."""

import os
import textwrap

from forktools.measure import pipelines


TEST_FILE = '''
import torch


class Broken:
    """Hands the text encoder's output to the denoiser as it is, as most upstream pipelines do."""

    def __init__(self, text_encoder, unet):
        self.text_encoder, self.unet = text_encoder, unet

    def encode_prompt(self, prompt):
        ids = torch.ones(1, 4, dtype=self.text_encoder.weight.dtype)
        prompt_embeds = self.text_encoder(ids)
        return prompt_embeds

    def __call__(self, prompt=None, prompt_embeds=None):
        if prompt_embeds is None:
            prompt_embeds = self.encode_prompt(prompt)
        return self.unet(prompt_embeds)


class Fixed(Broken):
    def __call__(self, prompt=None, prompt_embeds=None):
        if prompt_embeds is None:
            prompt_embeds = self.encode_prompt(prompt)
        return self.unet(prompt_embeds.to(self.unet.weight.dtype))


class PromptOnly(Fixed):
    """Takes no embeddings: P has nothing to pass in."""

    def __call__(self, prompt):
        return super().__call__(prompt)


class NoTextEncoder:
    def __init__(self, unet):
        self.unet = unet

    def __call__(self):
        return self.unet(torch.ones(1, 4, dtype=self.unet.weight.dtype))


class BrokenFastTests:
    pipeline_class = Broken

    def get_dummy_components(self):
        torch.manual_seed(0)
        return {"text_encoder": torch.nn.Linear(4, 4), "unet": torch.nn.Linear(4, 4)}

    def get_dummy_inputs(self, device, seed=0):
        return {"prompt": "a cat"}


class FixedFastTests(BrokenFastTests):
    pipeline_class = Fixed


class PromptOnlyFastTests(BrokenFastTests):
    pipeline_class = PromptOnly


class UnconditionalFastTests:
    pipeline_class = NoTextEncoder

    def get_dummy_components(self):
        return {"unet": torch.nn.Linear(4, 4)}

    def get_dummy_inputs(self):
        return {}
'''


def make_tree(root):
    for folder in ("tests", "tests/pipelines", "tests/pipelines/fake"):
        os.makedirs(root / folder, exist_ok=True)
        (root / folder / "__init__.py").write_text("")
    (root / "tests/pipelines/test_pipelines_common.py").write_text("")
    (root / "tests/pipelines/fake/test_fake.py").write_text(textwrap.dedent(TEST_FILE))
    (root / "tests/pipelines/fake/test_missing.py").write_text("import a_module_that_does_not_exist\n")


def test_worker_records_each_setup_and_the_table_counts_them(tmp_path):
    make_tree(tmp_path)
    (tmp_path / "hub").mkdir()
    (tmp_path / "src").mkdir()  # the tree measured: the installed diffusers, below it on PYTHONPATH
    files = ["tests/pipelines/fake/test_fake.py", "tests/pipelines/fake/test_missing.py"]
    trees, out = {"fork": tmp_path / "src"}, tmp_path / "out"
    out.mkdir()
    records = pipelines.run_side("fork", tmp_path, trees, tmp_path / "hub", files, out, tmp_path / "work", 600)
    assert records, (out / "fork.log").read_text()[-2000:]
    by_key = {(r["class"], r["setup"]): r for r in records if r.get("setup")}
    # The broken pipeline runs with every module in one dtype and crashes in each mixed setup.
    assert by_key[("BrokenFastTests", "U")]["outcome"] == "ok"
    assert by_key[("BrokenFastTests", "U")]["dtypes"] == {"text_encoder": "bfloat16", "unet": "bfloat16"}
    assert by_key[("BrokenFastTests", "M")]["dtypes"] == {"text_encoder": "float32", "unet": "bfloat16"}
    assert {by_key[("BrokenFastTests", s)]["outcome"] for s in "MRH"} == {"crash"}
    assert {by_key[("FixedFastTests", s)]["outcome"] for s in "UMRH"} == {"ok"}
    # P: every module in bf16, the embeddings passed in as fp32; "n/a" where __call__ takes none.
    assert by_key[("BrokenFastTests", "P")]["outcome"] == "crash"
    assert by_key[("FixedFastTests", "P")]["outcome"] == "ok"
    assert by_key[("PromptOnlyFastTests", "P")]["outcome"] == "n/a"
    # Without a text encoder there is nothing to mix: only U runs.
    assert [s for c, s in by_key if c == "UnconditionalFastTests"] == ["U"]
    assert any(r["file"].endswith("test_missing.py") and r["outcome"] == "import error" for r in records)

    # The same records as both sides: the broken pipeline crashes on each, nothing regresses.
    table = pipelines.tabulate({"pristine": records, "fork": records})
    broken = table[("tests/pipelines/fake/test_fake.py", "BrokenFastTests")]
    assert broken["runnable"] and broken["crash_pristine"] and broken["crash_fork"] and not broken["regressions"]
    assert broken["family"] == "fake" and broken["kind"] == "UNet"
    fixed_on_the_fork = [dict(r, outcome="ok") if r.get("class") == "BrokenFastTests" else r for r in records]
    table = pipelines.tabulate({"pristine": records, "fork": fixed_on_the_fork})
    counts = pipelines.summary(table)["fake"]
    assert (counts["pipelines"], counts["runnable"], counts["crash_pristine"], counts["crash_fork"]) == (3, 3, 1, 0)
    # A fork that crashes where pristine ran is a regression.
    worse = [dict(r, outcome="crash") if r.get("class") == "FixedFastTests" else r for r in records]
    table = pipelines.tabulate({"pristine": records, "fork": worse})
    assert table[("tests/pipelines/fake/test_fake.py", "FixedFastTests")]["regressions"] == ["U", "M", "R", "H", "P"]
