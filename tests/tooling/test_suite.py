"""`make upstream-suite`: skipped without an upstream repository; the hub stand-ins; recorded outcomes and the verdict."""

import json
import os
import subprocess
import sys
import textwrap
import types

import pytest

from forktools.lines import ROOT
from forktools import outcomes
from forktools.upstream import hub_standins, suite
from forktools.upstream import pr as make_pr


def test_without_an_upstream_repository_the_suite_says_it_is_skipped_and_how_to_run_it():
    env = {k: v for k, v in os.environ.items() if k not in ("UPSTREAM", "LINE")}
    proc = subprocess.run(
        [sys.executable, "-m", "forktools.upstream.suite", "--line", "0.42"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and "skipped" in lines[0] and "make upstream-suite LINE=0.42 UPSTREAM=" in lines[0]


def test_a_missing_test_package_is_named_and_exits_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(suite, "REQUIRED", {"no_such_module_here": "no-such-package==1.0"})
    assert suite.main(["--line", "0.42", "--upstream", str(tmp_path)]) == 2
    assert "no-such-package==1.0" in capsys.readouterr().err


def test_the_stand_in_cache_resolves_offline(tmp_path):
    """A stand-in installed with install_repo is what transformers and huggingface_hub find with HF_HUB_OFFLINE=1."""
    folder = tmp_path / "t5"
    hub_standins.save_t5_tokenizer(str(folder))
    hub_standins.t5_config().save_pretrained(str(folder))
    commit, files = hub_standins.install_repo(str(tmp_path / "hub"), "hf-internal-testing/tiny-random-t5", str(folder))
    assert "config.json" in files and "tokenizer.json" in files
    storage = tmp_path / "hub" / "models--hf-internal-testing--tiny-random-t5"
    assert (storage / "refs" / "main").read_text() == commit
    assert (storage / "snapshots" / commit / "config.json").is_symlink()
    listing = json.loads((storage / "trees" / f"{commit}.json").read_text())
    assert set(listing["files"]) == set(files)
    code = textwrap.dedent(
        """
        from huggingface_hub import snapshot_download
        from transformers import AutoConfig, AutoTokenizer

        repo = "hf-internal-testing/tiny-random-t5"
        config = AutoConfig.from_pretrained(repo)
        tokenizer = AutoTokenizer.from_pretrained(repo)
        print(config.model_type, config.d_model, len(tokenizer), tokenizer("a photo of a cat").input_ids[-1])
        print(snapshot_download(repo))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    summary, snapshot = proc.stdout.splitlines()[-2:]
    model_type, d_model, length, last = summary.split()
    assert (model_type, d_model, last) == ("t5", "32", "1")  # the sequence ends with </s>
    assert int(length) <= hub_standins.T5_VOCAB_SIZE
    assert snapshot == str(storage / "snapshots" / commit)


def test_the_text_encoder_tokenizers_have_what_upstreams_tests_rely_on(tmp_path):
    """Qwen2: the real special-token ids (the encoders' image_token_id) and a chat template; Gemma: the specials below
    8 (the Sana tests' Gemma2 has vocab_size 8); the HunyuanVideo Llama: a pad token; the three round-trip."""
    from transformers import AutoTokenizer

    if not hub_standins.transformers_5():
        pytest.skip("these stand-ins are built with transformers 5's tokenizer constructors (NEEDS_TRANSFORMERS_5)")
    qwen = hub_standins.save_qwen2_tokenizer(str(tmp_path / "qwen"))
    gemma = hub_standins.save_gemma_tokenizer(str(tmp_path / "gemma"))
    llama = hub_standins.save_llama_tokenizer(str(tmp_path / "llama"), pad_token="<pad>")
    assert qwen.convert_tokens_to_ids("<|image_pad|>") == 151655 and qwen.pad_token == "<|endoftext|>"
    text = qwen.apply_chat_template([{"role": "user", "content": "a cat"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n") and "a cat" in text
    assert max(gemma("", padding="max_length", max_length=8).input_ids) < 8
    assert llama("a cat", padding="max_length", max_length=8).input_ids[0] == llama.pad_token_id
    for name, tokenizer in (("qwen", qwen), ("gemma", gemma), ("llama", llama)):
        loaded = AutoTokenizer.from_pretrained(str(tmp_path / name))
        assert loaded("a photo of a cat").input_ids == tokenizer("a photo of a cat").input_ids


FILE = "tests/pipelines/test_x.py"


def recorded(tmp_path, side, body):
    """The outcomes forktools.outcomes records for a FILE holding `body`, run by pytest in its own rootdir."""
    folder = tmp_path / side
    (folder / FILE).parent.mkdir(parents=True)
    (folder / FILE).write_text("import pytest\n" + textwrap.dedent(body))
    report = tmp_path / f"{side}.json"
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "forktools.outcomes", FILE]
    env = dict(os.environ, FORK_OUTCOMES=str(report), PYTHONPATH=str(ROOT))
    subprocess.run(cmd, cwd=folder, env=env, capture_output=True)
    return outcomes.read(report)


def test_outcomes_are_recorded_and_compared(tmp_path):
    fixture = """
        @pytest.fixture
        def teardown_error():
            yield
            raise RuntimeError("failed on teardown")
    """
    pristine = recorded(
        tmp_path,
        "pristine",
        fixture
        + """
        class TestFast:
            def test_same(self): pass
            def test_broken(self): pass
            def test_repaired(self): assert [0.2] == [0.1], "Expected: [0.1]"
            @pytest.mark.xfail(reason="Some import error")
            def test_marked(self): assert False
            def test_gpu(self): pytest.skip("test requires a hardware accelerator")
        def test_function(): pass
        """,
    )
    fork = recorded(
        tmp_path,
        "fork",
        fixture
        + """
        class TestFast:
            def test_same(self): pass
            def test_broken(self): raise RuntimeError("dtype")
            def test_repaired(self): pass
            @pytest.mark.xfail(reason="Some import error")
            def test_marked(self): pass
            def test_gpu(self): pytest.skip("test requires a hardware accelerator")
        def test_function(teardown_error): pass
        """,
    )
    cls = f"{FILE}::TestFast"
    assert pristine[f"{cls}::test_repaired"][0] == "failed"
    assert pristine[f"{cls}::test_repaired"][1].startswith("AssertionError: Expected: [0.1]")
    assert pristine[f"{cls}::test_marked"] == ("xfailed", "Some import error")
    assert fork[f"{cls}::test_marked"][0] == "xpassed"
    assert fork[f"{cls}::test_gpu"] == ("skipped", "Skipped: test requires a hardware accelerator")
    assert fork[f"{FILE}::test_function"][0] == "error"  # a teardown error beats the pass reported before it
    assert suite.counts(pristine) == "3 passed, 1 failed, 1 skipped, 1 xfailed"
    assert suite.counts(fork) == "2 passed, 1 failed, 1 error, 1 skipped, 1 xpassed"
    regressions, fixed, other = suite.compare(pristine, fork)
    assert regressions == [f"{cls}::test_broken", f"{FILE}::test_function"]
    assert fixed == [f"{cls}::test_marked", f"{cls}::test_repaired"]
    assert other == {}
    # A file that did not run on the fork: what passed on pristine is a regression.
    regressions, _, _ = suite.compare(pristine, {}, crashed={FILE})
    assert f"{cls}::test_same" in regressions
    assert suite.category(f"{cls}::test_repaired", pristine[f"{cls}::test_repaired"][1]).startswith("numeric")
    # A file that fails to import is one error, under its path.
    assert recorded(tmp_path, "broken", "import no_such_module\n")[FILE][0] == "error"


def test_run_tests_returns_an_outcome_per_node_id(tmp_path, monkeypatch):
    repo, src = tmp_path / "repo", tmp_path / "repo" / "src"
    (repo / "tests").mkdir(parents=True)
    src.mkdir()
    (repo / "tests" / "__init__.py").write_text("")
    (repo / "tests" / "test_x.py").write_text(
        textwrap.dedent(
            """
            import os
            import unittest

            import pytest


            class Fast(unittest.TestCase):
                def test_ok(self):
                    assert os.environ["HF_HUB_OFFLINE"] == "1"

                def test_bad(self):
                    assert False

                @unittest.skip("no accelerator")
                def test_skip(self):
                    pass


            @pytest.mark.parametrize("n", [1, 2])
            def test_param(n):
                assert n == 1
            """
        )
    )
    (tmp_path / "hub").mkdir()
    monkeypatch.setattr(suite, "ensure_standins", lambda builder: tmp_path / "hub")
    monkeypatch.setattr(suite, "missing_packages", lambda: [])
    ids = ["tests/test_x.py::Fast::test_ok", "tests/test_x.py::Fast::test_bad", "tests/test_x.py::Fast::test_skip"]
    (tmp_path / "link").symlink_to(repo)  # tests are named relative to the checkout's real path
    found = suite.run_tests(str(tmp_path / "link"), ids + ["tests/test_x.py::test_param"], str(src))
    assert found == dict(zip(ids, ("passed", "failed", "skipped")), **{"tests/test_x.py::test_param": "failed"})


def test_make_pr_quotes_the_recorded_suite_when_out_has_none(tmp_path, monkeypatch):
    monkeypatch.setattr(make_pr, "ROOT", tmp_path)
    line = types.SimpleNamespace(name="9.9", folder=tmp_path)
    assert make_pr.suite_counts(line).startswith("Not run yet")
    recorded = {
        "revision": "abc",
        "files": {
            "tests/a.py": {"pristine": "1 passed, 0 failed, 0 skipped", "fork": "1 passed, 0 failed, 0 skipped"}
        },
        "total": {"pristine": "1 passed, 0 failed, 0 skipped", "fork": "1 passed, 0 failed, 0 skipped"},
        "regressions": [],
    }
    (tmp_path / "upstream-suite.json").write_text(json.dumps(recorded))
    text = make_pr.suite_counts(line)
    assert "| `tests/a.py` | 1 passed, 0 failed, 0 skipped |" in text and "Revision abc; 0 test(s)" in text
    # A family PR quotes only its own test files: none recorded here.
    assert make_pr.suite_counts(line, {"families": ["stable_diffusion/"]}).startswith("Not run yet")


def test_recording_some_files_keeps_the_other_files_of_the_same_trees():
    def run(files, regressions=(), series="a1", fork="0.42.1+x"):
        return {
            "revision": "r",
            "diffusers": {"pristine": "0.42.1", "fork": fork},
            "series": {"p.patch": series},
            "transformers": "5",
            "files": {
                f: {"pristine": "2 passed, 1 failed, 0 skipped", "fork": c, "series": series} for f, c in files.items()
            },
            "total": {},
            "regressions": list(regressions),
            "fixed": [],
            "other_differences": {},
            "failing_on_both": {"other": [f"{f}::T::test_x" for f in files]},
            "absent_files": [],
            "wall_s": 10,
            "messages": {f"{f}::T::test_x": "boom" for f in files},
        }

    recorded = run({"a.py": "2 passed, 1 failed, 0 skipped", "b.py": "1 passed, 2 failed, 0 skipped"}, ["b.py::T::t"])
    later = run({"b.py": "3 passed, 0 failed, 0 skipped", "c.py": "2 passed, 1 failed, 0 skipped"}, series="b2")
    merged = suite.merge(recorded, later)
    assert list(merged["files"]) == ["a.py", "b.py", "c.py"]
    assert merged["files"]["b.py"]["fork"] == "3 passed, 0 failed, 0 skipped"
    assert [c["series"] for c in merged["files"].values()] == ["a1", "b2", "b2"]  # each row names its series
    assert merged["regressions"] == []  # b.py ran again: its old regression is gone
    assert merged["total"] == {"pristine": "6 passed, 3 failed, 0 skipped", "fork": "7 passed, 2 failed, 0 skipped"}
    assert merged["failing_on_both"]["other"] == ["a.py::T::test_x", "b.py::T::test_x", "c.py::T::test_x"]
    assert merged["wall_s"] == 20
    other_fork = run({"c.py": "1 passed, 0 failed, 0 skipped"}, fork="0.42.1+y")
    assert suite.merge(recorded, other_fork)["files"].keys() == {"c.py"}  # another fork: the record starts again
