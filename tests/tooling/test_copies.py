"""forktools.upstream.copies on a small synthetic `diffusers` package: one copy in sync, one drifted."""

import io
import textwrap

from forktools.upstream import copies as check_copies


SOURCE = """
class Source:
    def encode(self, prompt, dtype=None):
        dtype = dtype or self.dtype
        return prompt.to(dtype)
"""

IN_SYNC = """
class Other:
    # Copied from diffusers.source.Source.encode with prompt->text
    def encode(self, text, dtype=None):
        dtype = dtype or self.dtype
        return text.to(dtype)

    def unrelated(self):
        return 1
"""

DRIFTED = """
class Drifted:
    # Copied from diffusers.source.Source.encode
    def encode(self, prompt, dtype=None):
        return prompt.to(dtype)

    def unrelated(self):
        return 2
"""


def make_package(tmp_path):
    package = tmp_path / "src" / "diffusers"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    for name, text in {"source": SOURCE, "in_sync": IN_SYNC, "drifted": DRIFTED}.items():
        (package / f"{name}.py").write_text(textwrap.dedent(text).lstrip())
    return tmp_path / "src", package


def test_reports_only_the_drifted_copy_with_both_locations(tmp_path):
    src, package = make_package(tmp_path)
    out = io.StringIO()
    assert check_copies.run(str(src), out=out) == 1
    report = out.getvalue()
    assert "diffusers/drifted.py:3: copy of diffusers.source.Source.encode (diffusers/source.py:2)" in report
    assert "in_sync.py" not in report


def test_limiting_to_a_touched_source_file_still_finds_its_copies(tmp_path):
    src, package = make_package(tmp_path)
    out = io.StringIO()
    assert check_copies.run(str(src), files=[str(package / "source.py")], out=out) == 1
    assert "drifted.py" in out.getvalue()
    assert check_copies.run(str(src), files=[str(package / "in_sync.py")], out=io.StringIO()) == 0


def test_fix_rewrites_the_copy_from_its_source(tmp_path):
    src, package = make_package(tmp_path)
    assert check_copies.run(str(src), fix=True, out=io.StringIO()) == 0
    fixed = (package / "drifted.py").read_text()
    assert "        dtype = dtype or self.dtype\n" in fixed
    assert "return 2" in fixed  # the code after the copied block is kept
    assert check_copies.run(str(src), out=io.StringIO()) == 0


def test_a_missing_source_is_reported(tmp_path):
    src, package = make_package(tmp_path)
    (package / "source.py").write_text("class Source:\n    pass\n")
    out = io.StringIO()
    assert check_copies.run(str(src), out=out) == 1
    assert "source diffusers.source.Source.encode not found" in out.getvalue()


def test_a_drift_upstream_already_has_is_not_ours_but_a_new_one_is(tmp_path):
    # Upstream's release ships drifted.py out of sync already; we touch drifted.py for another reason.
    pristine, _ = make_package(tmp_path / "pristine")
    src, package = make_package(tmp_path / "fork")
    (package / "drifted.py").write_text((package / "drifted.py").read_text() + "\n\ndef ours():\n    return 3\n")
    files = [str(package / "drifted.py")]
    assert check_copies.run(str(src), files=files, pristine=str(pristine), out=io.StringIO()) == 0
    # Changing the source makes the same copy ours to keep in sync.
    (package / "source.py").write_text((package / "source.py").read_text().replace("self.dtype", "self._dtype"))
    out = io.StringIO()
    assert check_copies.run(str(src), files=files, pristine=str(pristine), out=out) == 1
    assert "drifted.py:3: copy of diffusers.source.Source.encode" in out.getvalue()


def test_an_inherited_drift_carried_through_our_change_of_the_source_is_not_ours(tmp_path):
    # Upstream's copy leaves out a line of its source. We change another line of the source and of the copy alike:
    # the copy still differs from the source by exactly upstream's drift, so only that drift remains, and it is not ours.
    pristine, _ = make_package(tmp_path / "pristine")
    src, package = make_package(tmp_path / "fork")
    for name, old in (("source.py", "prompt"), ("drifted.py", "prompt"), ("in_sync.py", "text")):
        text = (package / name).read_text()
        (package / name).write_text(text.replace(f"{old}.to(dtype)", f"{old}.to(dtype=dtype)"))
    files = [str(package / "source.py")]
    assert check_copies.run(str(src), files=files, pristine=str(pristine), out=io.StringIO()) == 0
    # Changed in the source only, the copy is out of sync by more than upstream's drift: ours.
    (package / "drifted.py").write_text((package / "drifted.py").read_text().replace("dtype=dtype", "dtype"))
    out = io.StringIO()
    assert check_copies.run(str(src), files=files, pristine=str(pristine), out=out) == 1
    assert "drifted.py:3: copy of diffusers.source.Source.encode" in out.getvalue()
