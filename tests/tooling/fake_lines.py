"""Fake upstream releases and fork lines for the tooling tests: small sdists written here, no network."""

import hashlib
import io
import tarfile
from pathlib import Path


MODULE = "".join(f"line {i}\n" for i in range(1, 31))


def make_archive(path, version="9.9.9", files=None):
    """A diffusers sdist at `path` holding `files` ({path under src/diffusers: text}); returns its sha256."""
    files = files or {"__init__.py": f'__version__ = "{version}"\n', "mod.py": MODULE}
    with tarfile.open(path, "w:gz") as tar:
        entries = {f"diffusers-{version}/PKG-INFO": "Name: diffusers\nRequires-Dist: numpy\n"}
        entries.update({f"diffusers-{version}/src/diffusers/{rel}": text for rel, text in files.items()})
        for name, text in entries.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_pin(root, version, digest):
    """The line of `version` (named by its major.minor) in the fork at `root`, pinned to that sdist."""
    folder = root / "lines" / version.rsplit(".", 1)[0]
    (folder / "patches").mkdir(parents=True, exist_ok=True)
    (folder / "series").touch()
    (folder / "line.toml").write_text(
        f'[upstream]\nname = "diffusers"\nversion = "{version}"\nsdist = "diffusers-{version}.tar.gz"\n'
        f'sha256 = "{digest}"\n'
    )


def fake_fork(tmp_path, monkeypatch, modules):
    """
    A fork repository under `tmp_path` with a line 9.9 (default) and a line 8.8, whose releases 9.9.9 and 8.8.0 hold
    `modules["9.9.9"]` and `modules["8.8.0"]` as `mod.py`; the sdists lie in a private FORK_CACHE_DIR.
    """
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("FORK_CACHE_DIR", str(cache))
    monkeypatch.delenv("LINE", raising=False)
    root = tmp_path / "repo"
    root.mkdir()
    (root / "fork.toml").write_text('[fork]\nlocal_label = "test"\ndefault_line = "9.9"\n')
    for version in ("9.9.9", "8.8.0"):
        files = {"__init__.py": f'__version__ = "{version}"\n', "mod.py": modules[version]}
        write_pin(root, version, make_archive(cache / f"diffusers-{version}.tar.gz", version, files))
    return root
