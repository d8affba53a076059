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
