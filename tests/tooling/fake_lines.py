"""Fake upstream releases and fork lines for the tooling tests: small sdists written here, no network."""

import hashlib
import io
import tarfile
from pathlib import Path

from forktools import lines, queue as patchq


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


def write_pin(root, version, digest, line=None):
    """The line of `version` (named by its major.minor, or `line`) in the fork at `root`, pinned to that sdist."""
    folder = root / "lines" / (line or version.rsplit(".", 1)[0])
    (folder / "patches").mkdir(parents=True, exist_ok=True)
    (folder / "series").touch()
    (folder / "line.toml").write_text(
        f'[upstream]\nname = "diffusers"\nversion = "{version}"\nsdist = "diffusers-{version}.tar.gz"\n'
        f'sha256 = "{digest}"\n'
    )


def release(root, version, module, line=None):
    """Publish release `version` (its mod.py: `module`) in the fake cache and pin a line of the fork at `root` to it."""
    files = {"__init__.py": f'__version__ = "{version}"\n', "mod.py": module}
    cache = Path(root).parent / "cache"
    write_pin(root, version, make_archive(cache / f"diffusers-{version}.tar.gz", version, files), line)


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
        release(root, version, modules[version])
    return root


def queue_of(root, name=None):
    return patchq.Queue(lines.select(name, root=root, materialized_first=name is None))


def edit(root, rel, old, new):
    path = root / "src" / "diffusers" / rel
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def fill_header(queue, name, subject="a fix", forwarded=None):
    """Fill in the template header of a new patch in its file, as a developer does, and build it into src/diffusers."""
    path = queue.patches / name
    text = path.read_text().replace("TODO one line saying what this patch changes", subject)
    text = text.replace("TODO a paragraph saying why it exists.", "Why it exists.")
    text = text.replace('TODO upstream issue URL, or "none"', "none")
    path.write_text(text.replace("Forwarded: no\n", f"Forwarded: {forwarded}\n") if forwarded else text)
    queue.vendor()


def add_patch(queue, name, rel, old, new, **header):
    """A new patch `name` at the end of the series, changing `old` to `new` in `rel`, its header filled in."""
    edit(queue.root, rel, old, new)
    queue.export(topic=name)
    fill_header(queue, name, **header)
