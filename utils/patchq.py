#!/usr/bin/env python3
"""Patch queue for the fork: upstream diffusers, pinned in `upstream.toml`, plus the series in `patches/`.

    python utils/patchq.py vendor [--force]   fetch and verify the pinned sdist, extract its `src/diffusers` into
                                              `src/diffusers`, stamp the fork version, apply the series strictly
    python utils/patchq.py export [--topic NAME]
                                              re-export every patch of the series from the edited `src/diffusers`;
                                              with --topic, edits to files no patch owns go into patch NAME
    python utils/patchq.py check              fail when `src/diffusers` and `patches/` disagree

Attribution rule: a patch owns the files its diff touches, and a file belongs to at most one patch. `export`
rewrites each patch from the current content of the files it owns; an edited file that no patch owns is an error
until it is given to a patch with `--topic`.

Layout (relative to the repository root): `upstream.toml`, `patches/series`, `patches/*.patch`,
`build/upstream/<name>-<version>/` (pristine extract, git-ignored), `src/diffusers` (materialized, git-ignored).
The sdist is cached in `$FORK_CACHE_DIR` (default `~/.cache/diffusers-fork`), outside git.
"""

import argparse
import difflib
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
from pathlib import Path


PACKAGE = "diffusers"
PKG_PREFIX = f"src/{PACKAGE}/"
REQUIRED_FIELDS = ("Description", "Bug", "Forwarded")
HEADER_END = "---\n"
NEW_PATCH_HEADER = """\
Description: TODO one line saying what this patch changes.
 TODO a paragraph saying why it exists.
Bug: TODO upstream issue URL, or "none"
Forwarded: no
Author: TODO
---
"""


class PatchQueueError(Exception):
    pass


class Queue:
    def __init__(self, root):
        self.root = Path(root).resolve()
        with open(self.root / "upstream.toml", "rb") as f:
            pin = tomllib.load(f)
        self.name = pin["upstream"]["name"]
        self.version = pin["upstream"]["version"]
        self.sdist = pin["upstream"]["sdist"]
        self.sha256 = pin["upstream"]["sha256"].lower()
        self.label = pin["fork"]["local_label"]
        self.patches = self.root / "patches"
        self.series_file = self.patches / "series"
        self.work = self.root / "src" / PACKAGE
        self.build = self.root / "build"
        self.upstream_dir = self.build / "upstream" / f"{self.name}-{self.version}"
        self.pristine = self.upstream_dir / "src" / PACKAGE
        cache = os.environ.get("FORK_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "diffusers-fork")
        self.cache = Path(cache)

    @property
    def fork_version(self):
        return f"{self.version}+{self.label}"

    # ----------------------------------------------------------------------------------------------- upstream
    def fetch(self):
        """Return the cached sdist, downloading it with pip when it is not cached yet."""
        archive = self.cache / self.sdist
        if archive.is_file():
            return archive
        self.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp]
            cmd.append(f"{self.name}=={self.version}")
            proc = subprocess.run(cmd, capture_output=True, text=True)
            fetched = Path(tmp) / self.sdist
            if proc.returncode != 0 or not fetched.is_file():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise PatchQueueError(f"could not download {self.sdist} with pip: {' / '.join(tail)}")
            os.replace(fetched, archive)
        return archive

    def verify(self, archive):
        digest = hashlib.sha256(Path(archive).read_bytes()).hexdigest()
        if digest != self.sha256:
            raise PatchQueueError(
                f"sha256 mismatch for {archive}: expected {self.sha256} (upstream.toml), got {digest}; "
                "nothing was extracted. Delete the file to download it again, or fix upstream.toml."
            )

    def extract(self, archive):
        """Extract the sdist into `build/upstream/<name>-<version>` (replacing any earlier extract)."""
        self.upstream_dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.upstream_dir.parent) as tmp:
            with tarfile.open(archive) as tar:
                tar.extractall(tmp, filter="data")
            top = Path(tmp) / f"{self.name}-{self.version}"
            if not (top / "src" / PACKAGE / "__init__.py").is_file():
                raise PatchQueueError(f"{archive} has no {top.name}/src/{PACKAGE}/__init__.py")
            if self.upstream_dir.exists():
                shutil.rmtree(self.upstream_dir)
            os.replace(top, self.upstream_dir)

    def stamp(self, text):
        """Give the upstream `__init__.py` text the fork's PEP 440 local version."""
        pattern = re.compile(rf'^__version__ = "{re.escape(self.version)}"$', re.M)
        stamped, count = pattern.subn(f'__version__ = "{self.fork_version}"', text)
        if count != 1:
            raise PatchQueueError(f'src/{PACKAGE}/__init__.py has no line `__version__ = "{self.version}"`')
        return stamped

    def baseline(self, rel):
        """Bytes of `rel` before the series applies (pristine, version stamped), or None if upstream lacks it."""
        path = self.pristine / rel
        if not path.is_file():
            return None
        data = path.read_bytes()
        if rel == "__init__.py":
            data = self.stamp(data.decode("utf-8")).encode("utf-8")
        return data

    # ----------------------------------------------------------------------------------------------- series
    def series(self):
        if not self.series_file.is_file():
            return []
        names = []
        for line in self.series_file.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
        return names

    def read_patch(self, name):
        text = (self.patches / name).read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        if HEADER_END not in lines:
            raise PatchQueueError(f"patches/{name}: no header (DEP-3 fields, then a line `---`) before the diff")
        end = lines.index(HEADER_END) + 1
        return "".join(lines[:end]), "".join(lines[end:])

    @staticmethod
    def header_fields(header):
        fields, key = {}, None
        for line in header.splitlines():
            if line == "---":
                break
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip()
                fields[key] = value.strip()
        return fields

    def owners(self):
        """Map each file (relative to src/diffusers) to the patch owning it; refuse a file owned twice."""
        owners = {}
        for name in self.series():
            _, body = self.read_patch(name)
            for rel in files_in_diff(body):
                if rel in owners:
                    raise PatchQueueError(
                        f"{PKG_PREFIX}{rel} is in both patches/{owners[rel]} and patches/{name}; a file belongs to "
                        "one patch"
                    )
                owners[rel] = name
        return owners

    # ----------------------------------------------------------------------------------------------- trees
    def changed_files(self):
        if not (self.work / "__init__.py").is_file():
            raise PatchQueueError(f"src/{PACKAGE} is not materialized: run `make vendor`")
        if not (self.pristine / "__init__.py").is_file():
            raise PatchQueueError(f"no pristine upstream tree in {self.upstream_dir}: run `make vendor`")
        rels = sorted(set(tree_files(self.pristine)) | set(tree_files(self.work)))
        changed = []
        for rel in rels:
            work = self.work / rel
            if self.baseline(rel) != (work.read_bytes() if work.is_file() else None):
                changed.append(rel)
        return changed

    def render(self):
        """Compute every patch from the working tree: ({name: text}, unowned changed files, dropped files)."""
        owners = self.owners()
        changed = set(self.changed_files())
        rendered, dropped = {}, []
        for name in self.series():
            header, _ = self.read_patch(name)
            owned = sorted(rel for rel, owner in owners.items() if owner == name)
            dropped += [(name, rel) for rel in owned if rel not in changed]
            body = "".join(self.diff(rel) for rel in owned if rel in changed)
            rendered[name] = header + body
        unowned = sorted(changed - set(owners))
        return rendered, unowned, dropped

    def diff(self, rel):
        work = self.work / rel
        return unified_diff(rel, self.baseline(rel), work.read_bytes() if work.is_file() else None)

    # ----------------------------------------------------------------------------------------------- commands
    def vendor(self, force=False):
        if self.work.exists() and not force:
            if not self.pristine.is_dir():
                raise PatchQueueError(
                    f"src/{PACKAGE} exists but its pristine upstream is gone, so its edits cannot be checked: "
                    "run `make vendor FORCE=1` to replace it"
                )
            problems = self.unexported()
            if problems:
                raise PatchQueueError(
                    f"src/{PACKAGE} holds edits not exported to patches/ ({problems[0]}): run `make patches` "
                    "first, or `make vendor FORCE=1` to discard them"
                )
        archive = self.fetch()
        self.verify(archive)
        self.extract(archive)
        names = self.series()
        for name in names:
            self.read_patch(name)  # every patch has a header before anything is applied
        self.build.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.build, prefix="stage-") as stage:
            staged = Path(stage) / "src" / PACKAGE
            shutil.copytree(self.pristine, staged)
            init = staged / "__init__.py"
            init.write_bytes(self.stamp(init.read_text(encoding="utf-8")).encode("utf-8"))
            for name in names:
                apply_strict(self.patches / name, Path(stage), name)
            old = Path(stage) / "old"
            if self.work.exists():
                os.replace(self.work, old)
            self.work.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, self.work)
        return names

    def export(self, topic=None, files=None):
        rendered, unowned, dropped = self.render()
        if topic and files:
            wanted = {f.removeprefix(PKG_PREFIX) for f in files}
            if wanted - set(unowned):
                raise PatchQueueError(
                    "not edited, or already owned by a patch: "
                    + ", ".join(PKG_PREFIX + f for f in sorted(wanted - set(unowned)))
                )
            unowned, others = sorted(wanted), sorted(set(unowned) - wanted)
            if others:
                print(f"note: left unexported (no patch owns them yet): {', '.join(PKG_PREFIX + f for f in others)}")
        if unowned and not topic:
            raise PatchQueueError(
                "edited files that no patch owns: "
                + ", ".join(PKG_PREFIX + rel for rel in unowned)
                + "; give them to a patch with `make patches TOPIC=NNNN-topic.patch`"
            )
        names = self.series()
        if unowned:
            if not topic.endswith(".patch") or "/" in topic:
                raise PatchQueueError(f"TOPIC must be a file name ending in .patch, got {topic!r}")
            header = self.read_patch(topic)[0] if (self.patches / topic).is_file() else NEW_PATCH_HEADER
            owned = set(files_in_diff(rendered.get(topic, "")))
            rels = sorted(owned | set(unowned))
            rendered[topic] = header + "".join(self.diff(rel) for rel in rels)
            if topic not in names:
                names.append(topic)
        for name, text in rendered.items():
            path = self.patches / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, path)
        self.series_file.write_text("".join(f"{name}\n" for name in names))
        return names, dropped

    def problems(self):
        """Everything that makes the queue out of sync, as one line each."""
        problems = []
        names = self.series()
        on_disk = sorted(p.name for p in self.patches.glob("*.patch"))
        for name in sorted(set(names) - set(on_disk)):
            problems.append(f"patches/series lists {name}, which does not exist")
        for name in sorted(set(on_disk) - set(names)):
            problems.append(f"patches/{name} is not listed in patches/series")
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"patches/series lists {name} twice")
        if problems:
            return problems
        for name in names:
            header = self.read_patch(name)[0]
            fields = self.header_fields(header)
            missing = [field for field in REQUIRED_FIELDS if not fields.get(field)]
            if missing:
                problems.append(f"patches/{name}: header lacks {', '.join(f'`{m}:`' for m in missing)}")
            if "TODO" in header:
                problems.append(f"patches/{name}: header still has TODO")
        return problems + self.unexported()

    def unexported(self):
        """Edits in src/diffusers that patches/ does not hold, as one line each."""
        problems = []
        rendered, unowned, _ = self.render()
        for name, text in rendered.items():
            if (self.patches / name).read_text(encoding="utf-8") != text:
                problems.append(f"patches/{name} differs from src/{PACKAGE}: run `make patches`")
        for rel in unowned:
            problems.append(f"{PKG_PREFIX}{rel} is edited but no patch owns it: run `make patches TOPIC=...`")
        return problems


# --------------------------------------------------------------------------------------------------- helpers
def tree_files(top):
    top = Path(top)
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for fname in filenames:
            if not fname.endswith((".pyc", ".pyo")):
                out.append((Path(dirpath) / fname).relative_to(top).as_posix())
    return sorted(out)


def unified_diff(rel, old, new):
    """A deterministic unified diff of one file, with `a/src/diffusers/...` and `b/...` labels."""
    old_lines = old.decode("utf-8").splitlines(keepends=True) if old is not None else []
    new_lines = new.decode("utf-8").splitlines(keepends=True) if new is not None else []
    fromfile = f"a/{PKG_PREFIX}{rel}" if old is not None else "/dev/null"
    tofile = f"b/{PKG_PREFIX}{rel}" if new is not None else "/dev/null"
    out = []
    for line in difflib.unified_diff(old_lines, new_lines, fromfile, tofile, n=3):
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def files_in_diff(body):
    """Files (relative to src/diffusers) touched by a unified diff, read hunk by hunk."""
    files, lines, i = [], body.splitlines(), 0
    hunk = re.compile(r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@")
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            old, new = line[4:].split("\t")[0], lines[i + 1][4:].split("\t")[0]
            path = new[2:] if new != "/dev/null" else old[2:]
            if not path.startswith(PKG_PREFIX):
                raise PatchQueueError(f"the diff touches {path}, outside {PKG_PREFIX}")
            files.append(path[len(PKG_PREFIX) :])
            i += 2
            continue
        match = hunk.match(line)
        if match:
            old_left = int(match.group(1) or 1)
            new_left = int(match.group(2) or 1)
            i += 1
            while i < len(lines) and (old_left > 0 or new_left > 0):
                tag = lines[i][:1]
                if tag in (" ", ""):
                    old_left, new_left = old_left - 1, new_left - 1
                elif tag == "-":
                    old_left -= 1
                elif tag == "+":
                    new_left -= 1
                i += 1
            continue
        i += 1
    return files


def apply_strict(patch, stage, name):
    """Apply one patch inside `stage` with git apply: exact context, no fuzz, and no hunk moved by an offset."""
    env = dict(os.environ, GIT_CEILING_DIRECTORIES=str(Path(stage).parent))
    cmd = ["git", "apply", "-v", "--whitespace=nowarn", str(patch)]
    proc = subprocess.run(cmd, cwd=stage, env=env, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    current = "?"
    for line in output.splitlines():
        checking = re.match(r"Checking patch (.+?)\.\.\.$", line)
        if checking:
            current = checking.group(1)
        if "(offset" in line or "fuzz" in line:
            raise PatchQueueError(f"patch {name} applies to {current} only with an offset: {line.strip()}")
    if proc.returncode != 0:
        failed = re.search(r"^error: patch failed: (.+?):(\d+)$", output, re.M)
        if failed:
            raise PatchQueueError(f"patch {name} does not apply to {failed.group(1)} (hunk at line {failed.group(2)})")
        errors = [line[len("error: ") :] for line in output.splitlines() if line.startswith("error: ")]
        raise PatchQueueError(f"patch {name} does not apply to {current}: {'; '.join(errors) or output.strip()}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="patchq", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=Path(__file__).resolve().parent.parent, help="repository root")
    sub = parser.add_subparsers(dest="command", required=True)
    vendor = sub.add_parser("vendor", help="materialize src/diffusers from the pinned sdist and the series")
    vendor.add_argument("--force", action="store_true", help="replace src/diffusers even if it holds edits")
    export = sub.add_parser("export", help="re-export the series from src/diffusers")
    export.add_argument("--topic", help="patch file that takes edited files no patch owns yet")
    export.add_argument("--files", nargs="+", help="with --topic: only these files (default: every unowned edit)")
    sub.add_parser("check", help="fail when src/diffusers holds edits not exported to patches/")
    sub.add_parser("version", help="print the fork version")
    args = parser.parse_args(argv)
    try:
        queue = Queue(args.root)
        if args.command == "vendor":
            names = queue.vendor(force=args.force)
            print(f"src/{PACKAGE}: {queue.name} {queue.fork_version}, {len(names)} patch(es) applied")
        elif args.command == "export":
            names, dropped = queue.export(topic=args.topic, files=args.files)
            for name, rel in dropped:
                print(f"note: {PKG_PREFIX}{rel} is back to upstream; {name} no longer owns it")
            print(f"exported {len(names)} patch(es) to patches/")
        elif args.command == "check":
            problems = queue.problems()
            if problems:
                for problem in problems:
                    print(f"patchq: {problem}", file=sys.stderr)
                return 1
            print(f"patch queue in sync: {len(queue.series())} patch(es)")
        elif args.command == "version":
            print(queue.fork_version)
    except PatchQueueError as err:
        print(f"patchq: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
