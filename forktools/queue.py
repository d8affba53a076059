"""The patch queue of a line: pristine upstream (pinned in `lines/<line>/line.toml`) plus `lines/<line>/series`.

    python -m forktools.queue [--line L] vendor [--force] [--upto PATCH]
                                     fetch and verify the pinned sdist, extract it into build/upstream/, stamp the
                                     fork version, apply the series (or its patches up to PATCH) strictly, and swap
                                     the result into src/diffusers
    python -m forktools.queue [--line L] export [--topic PATCH [--files F ...]]
                                     re-export the applied patches from the edited src/diffusers
    python -m forktools.queue [--line L] check
                                     fail when src/diffusers and the line's patches disagree
    python -m forktools.queue [--line L] version

Without --line (or $LINE), `vendor` takes the default line and the other commands the line src/diffusers holds.

Patches stack, as in quilt: a file may be changed by several patches of the series, each diff made against the file
as the patches before it left it. An edit to a file goes into the *last* applied patch that touches it; an edit to a
file no patch touches needs `--topic`. To change what an earlier patch does to a shared file, materialize the series
up to that patch (`vendor --upto`), edit, export, then `vendor --allow-offsets` the whole series and `export` again,
which rewrites the patches above it without offsets.
"""

import argparse
import difflib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from .lines import PACKAGE, LineError, materialized, select


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
# What `git merge-file` (forktools.carry) leaves in a file with a conflict, as a line the diff adds.
CONFLICT_MARKER = re.compile(r"^\+(<<<<<<<|>>>>>>>) ", re.M)
# Git's messages are parsed below: make sure they are not translated.
GIT_ENV = dict(os.environ, LC_ALL="C", LANG="C", LANGUAGE="C")


class PatchQueueError(Exception):
    pass


class Queue:
    def __init__(self, line):
        self.line = line
        self.root = line.root
        self.name = line.package
        self.version = line.version
        self.patches = line.patches
        self.series_file = line.series_file
        self.work = line.work
        self.build = self.root / "build"
        self.upstream_dir = line.upstream_dir
        self.pristine = line.pristine
        self.cache = line.cache

    @property
    def fork_version(self):
        return self.line.fork_version

    def series(self):
        return self.line.series()

    def state(self):
        """What src/diffusers was materialized with: {"line", "applied": [patch, ...], "files": {file: sha256}}."""
        state = materialized(self.root)
        if state is None:
            raise PatchQueueError(f"src/{PACKAGE} is not materialized: run `make vendor LINE={self.line.name}`")
        if state["line"] != self.line.name:
            raise PatchQueueError(
                f"src/{PACKAGE} holds line {state['line']}, not {self.line.name}: run `make vendor "
                f"LINE={self.line.name}` (it refuses to discard unexported edits)"
            )
        return state

    def applied(self):
        """The patches src/diffusers holds: the whole series, or its first patches after `vendor --upto`."""
        applied = self.state()["applied"]
        series = self.series()
        if applied != series[: len(applied)]:
            raise PatchQueueError(
                f"src/{PACKAGE} was materialized from another lines/{self.line.name}/series ({', '.join(applied)}): "
                "run `make vendor` (`FORCE=1` discards unexported edits)"
            )
        return applied

    def save_state(self, applied, offsets=False, unexported=()):
        """Record the line, the applied patches and the content of every file they leave changed (`unexported`
        files keep what was recorded for them, so they still count as edited)."""
        recorded = self.state()["files"] if unexported else {}
        files = {rel: content_hash(self.work_bytes(rel)) for rel in self.changed_files() if rel not in unexported}
        files.update({rel: recorded[rel] for rel in unexported if rel in recorded})
        state = {"line": self.line.name, "applied": applied, "files": files}
        if offsets:
            state["offsets"] = True  # applied with offsets: `export` writes the patches exact again
        self.line.state_file.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")

    def edited(self):
        """Files of src/diffusers edited since it was last materialized or exported."""
        recorded = self.state()["files"]
        changed = set(self.changed_files()) | set(recorded)
        return sorted(rel for rel in changed if content_hash(self.work_bytes(rel)) != recorded.get(rel))

    # ----------------------------------------------------------------------------------------------- upstream
    def fetch(self):
        """Return the cached sdist, downloading it with pip when it is not cached yet."""
        archive = self.cache / self.line.sdist
        if archive.is_file():
            return archive
        self.cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.cache) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", tmp]
            cmd.append(f"{self.name}=={self.version}")
            proc = subprocess.run(cmd, capture_output=True, text=True)
            fetched = Path(tmp) / self.line.sdist
            if proc.returncode != 0 or not fetched.is_file():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
                raise PatchQueueError(f"could not download {self.line.sdist} with pip: {' / '.join(tail)}")
            os.replace(fetched, archive)
        return archive

    def verify(self, archive):
        digest = hashlib.sha256(Path(archive).read_bytes()).hexdigest()
        if digest != self.line.sha256:
            raise PatchQueueError(
                f"sha256 mismatch for {archive}: expected {self.line.sha256} (lines/{self.line.name}/line.toml), "
                f"got {digest}; nothing was extracted. Delete the file to download it again, or fix line.toml."
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

    def ensure_pristine(self):
        """The pristine extract, made from the cached (or downloaded) sdist when it is missing."""
        if not (self.pristine / "__init__.py").is_file():
            archive = self.fetch()
            self.verify(archive)
            self.extract(archive)
        return self.pristine

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
    def read_patch(self, name):
        path = self.patches / name
        if not path.is_file():
            raise PatchQueueError(f"patches/{name} does not exist (lines/{self.line.name}/series lists it)")
        text = path.read_text(encoding="utf-8")
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

    def touched(self, names):
        """{patch: [file relative to src/diffusers, ...]} for the patches `names`."""
        return {name: files_in_diff(self.read_patch(name)[1]) for name in names}

    def stages(self, names):
        """
        Apply `names` in order to the pristine versions of the files they touch, in a scratch folder. Returns
        {patch: {file: bytes or None}}: each touched file as it was just before that patch, and {file: bytes or None}
        after the last patch.
        """
        touched = self.touched(names)
        files = sorted({rel for rels in touched.values() for rel in rels})
        before = {}
        with tempfile.TemporaryDirectory(prefix="patchq-stage-") as stage:
            package = Path(stage) / "src" / PACKAGE
            for rel in files:
                data = self.baseline(rel)
                if data is not None:
                    (package / rel).parent.mkdir(parents=True, exist_ok=True)
                    (package / rel).write_bytes(data)

            def read(rel):
                path = package / rel
                return path.read_bytes() if path.is_file() else None

            for name in names:
                before[name] = {rel: read(rel) for rel in touched[name]}
                apply_strict(self.patches / name, Path(stage), name, allow_offsets=True)
            after = {rel: read(rel) for rel in files}
        return before, after

    # ----------------------------------------------------------------------------------------------- trees
    def changed_files(self):
        if not (self.work / "__init__.py").is_file():
            raise PatchQueueError(f"src/{PACKAGE} is not materialized: run `make vendor LINE={self.line.name}`")
        if not (self.pristine / "__init__.py").is_file():
            raise PatchQueueError(f"no pristine upstream tree in {self.upstream_dir}: run `make vendor`")
        rels = sorted(set(tree_files(self.pristine)) | set(tree_files(self.work)))
        changed = []
        for rel in rels:
            work = self.work / rel
            if self.baseline(rel) != (work.read_bytes() if work.is_file() else None):
                changed.append(rel)
        return changed

    def work_bytes(self, rel):
        path = self.work / rel
        return path.read_bytes() if path.is_file() else None

    def render(self, names, give=None):
        """
        Every applied patch computed from the working tree: ({patch: text}, unowned changed files, dropped files).

        A file's changes go to the last patch in `names` that touches it; the patches before it keep their share,
        recomputed from the staged series. `give` ({patch: [file, ...]}) hands files to a patch: to a patch of
        `names`, files that no patch touches yet; to a new patch (appended to `names`), any files, whose edits since
        the applied patches then go to it.
        """
        before, after = self.stages(names)
        names = list(names)
        for name, rels in (give or {}).items():
            if name not in names:
                names.append(name)
                before[name] = {}
            before[name].update({rel: after[rel] if rel in after else self.baseline(rel) for rel in rels})
        changed = set(self.changed_files())
        chains = {}
        for name in names:
            for rel in before[name]:
                chains.setdefault(rel, []).append(name)
        rendered, dropped = {}, []
        for name in names:
            header = self.read_patch(name)[0] if (self.patches / name).is_file() else NEW_PATCH_HEADER
            body = []
            for rel in sorted(before[name]):
                chain = chains[rel]
                following = chain[chain.index(name) + 1 :]
                old = before[name][rel]
                new = before[following[0]][rel] if following else self.work_bytes(rel)
                if old == new:
                    dropped.append((name, rel))
                    continue
                body.append(unified_diff(rel, old, new))
            rendered[name] = header + "".join(body)
        unowned = sorted(changed - set(chains))
        return rendered, unowned, dropped

    def diff(self, rel):
        return unified_diff(rel, self.baseline(rel), self.work_bytes(rel))

    # ----------------------------------------------------------------------------------------------- commands
    def vendor(self, force=False, upto=None, allow_offsets=False):
        state = materialized(self.root)
        if self.work.exists() and not force:
            held = Queue(select(state["line"], self.root)) if state else None
            if held is None or not held.pristine.is_dir():
                raise PatchQueueError(
                    f"src/{PACKAGE} exists but its line or pristine upstream is unknown, so its edits cannot be "
                    "checked: run `make vendor FORCE=1` to replace it"
                )
            edited = held.edited()
            if edited:
                raise PatchQueueError(
                    f"src/{PACKAGE} holds edits not exported to lines/{state['line']}/ ({PKG_PREFIX}{edited[0]}): "
                    "run `make patches` first, or `make vendor FORCE=1` to discard them"
                )
        names = self.series()
        if upto is not None:
            if upto not in names:
                raise PatchQueueError(f"{upto} is not in lines/{self.line.name}/series")
            names = names[: names.index(upto) + 1]
        for name in names:
            self.read_patch(name)  # every patch exists and has a header before anything is applied
        archive = self.fetch()
        self.verify(archive)
        self.extract(archive)
        self.build.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.build, prefix="stage-") as stage:
            staged = self.build_tree(Path(stage) / "src", names, allow_offsets=allow_offsets)
            old = Path(stage) / "old"
            if self.work.exists():
                os.replace(self.work, old)
            self.work.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, self.work)
        self.save_state(names, offsets=allow_offsets)
        return names

    def build_tree(self, dest, names=None, allow_offsets=False):
        """
        Write the fork's package (pristine, version stamped, `names` or the whole series applied) to `dest/diffusers`
        without touching src/diffusers, and return that folder; `dest` must not hold a `diffusers` folder yet.
        """
        names = self.series() if names is None else names
        self.ensure_pristine()
        staged = Path(dest) / PACKAGE
        shutil.copytree(self.pristine, staged)
        init = staged / "__init__.py"
        init.write_bytes(self.stamp(init.read_text(encoding="utf-8")).encode("utf-8"))
        for name in names:
            apply_strict(self.patches / name, Path(dest), name, strip=2, allow_offsets=allow_offsets)
        return staged

    def export(self, topic=None, files=None):
        """
        Write every applied patch from src/diffusers. `topic` names the patch that takes edits other than to the files
        it already owns: an applied patch takes edited files that neither it nor any later patch touches (their edits
        since the last vendor or export, on top of the patches before it); a new patch, appended after the last
        applied one, takes every file edited since then (as in `quilt new`). `files` limits what `topic` takes.
        """
        names = self.applied()
        series = self.series()
        _, unowned, _ = self.render(names)
        give, left = None, []
        if topic:
            if not topic.endswith(".patch") or "/" in topic:
                raise PatchQueueError(f"TOPIC must be a file name ending in .patch, got {topic!r}")
            if topic in series and topic not in names:
                raise PatchQueueError(f"{topic} is not applied in src/{PACKAGE}: `make vendor` the whole series first")
            if topic in series:
                # An applied patch takes edited files that neither it nor any patch after it touches yet.
                later = names[names.index(topic) :]
                taken = {rel for rels in self.touched(later).values() for rel in rels}
                candidates = sorted(rel for rel in self.edited() if rel not in taken)
            else:
                candidates = self.edited()
            wanted = sorted({f.removeprefix(PKG_PREFIX) for f in files}) if files else candidates
            if set(wanted) - set(candidates):
                raise PatchQueueError(
                    (
                        "not edited, or touched by it or a later patch already: "
                        if topic in series
                        else "not edited since the last vendor or export: "
                    )
                    + ", ".join(PKG_PREFIX + f for f in sorted(set(wanted) - set(candidates)))
                )
            if not wanted:
                raise PatchQueueError(f"nothing for {topic} to take: no file was edited since the last export")
            give = {topic: wanted}
            left = sorted(set(unowned) - set(wanted))
            if left:
                print(f"note: left unexported (no patch owns them yet): {', '.join(PKG_PREFIX + f for f in left)}")
            unowned = []
        if unowned:
            raise PatchQueueError(
                "edited files that no patch owns: "
                + ", ".join(PKG_PREFIX + rel for rel in unowned)
                + "; give them to a patch with `make patches TOPIC=NNNN-topic.patch`"
            )
        rendered, _, dropped = self.render(names, give=give)
        marked = [name for name, text in rendered.items() if CONFLICT_MARKER.search(text)]
        if marked:
            raise PatchQueueError(
                f"src/{PACKAGE} holds merge conflict markers (they would go into {', '.join(marked)}): resolve them first"
            )
        applied = list(names)
        if topic and topic not in series:
            # A new patch goes right after the last applied one, with a header template to fill in.
            series.insert(series.index(names[-1]) + 1 if names else len(series), topic)
            applied.append(topic)
        self.patches.mkdir(parents=True, exist_ok=True)
        for name, text in rendered.items():
            path = self.patches / name
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                tmp = path.with_suffix(".tmp")
                tmp.write_text(text, encoding="utf-8")
                os.replace(tmp, path)
        self.series_file.write_text("".join(f"{name}\n" for name in series))
        self.save_state(applied, unexported=left)
        return series, dropped

    def problems(self):
        """Everything that makes the queue out of sync, as one line each."""
        problems = []
        names = self.series()
        on_disk = sorted(p.name for p in self.patches.glob("*.patch"))
        where = f"lines/{self.line.name}"
        for name in sorted(set(names) - set(on_disk)):
            problems.append(f"{where}/series lists {name}, which does not exist")
        for name in sorted(set(on_disk) - set(names)):
            problems.append(f"{where}/patches/{name} is not listed in {where}/series")
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"{where}/series lists {name} twice")
        if problems:
            return problems
        for name in names:
            header = self.read_patch(name)[0]
            fields = self.header_fields(header)
            missing = [field for field in REQUIRED_FIELDS if not fields.get(field)]
            if missing:
                problems.append(f"{where}/patches/{name}: header lacks {', '.join(f'`{m}:`' for m in missing)}")
            if "TODO" in header:
                problems.append(f"{where}/patches/{name}: header still has TODO")
            if CONFLICT_MARKER.search(self.read_patch(name)[1]):
                problems.append(f"{where}/patches/{name} adds merge conflict markers")
        return problems + self.unexported()

    def unexported(self):
        """Edits in src/diffusers that the line's patches do not hold, as one line each."""
        problems = []
        names = self.applied()
        rendered, unowned, _ = self.render(names)
        stale = [name for name, text in rendered.items() if (self.patches / name).read_text(encoding="utf-8") != text]
        if stale and self.state().get("offsets"):
            problems.append(
                f"src/{PACKAGE} was materialized with hunks moved by offsets ({stale[0]}): run `make patches` to write "
                "the patches without them"
            )
        elif stale and not self.edited():
            # src/diffusers is as it was materialized: the patches changed under it (a pull, a checkout).
            problems.append(
                f"lines/{self.line.name}/patches changed since src/{PACKAGE} was materialized ({stale[0]}): run "
                f"`make vendor LINE={self.line.name}`"
            )
        else:
            for name in stale:
                problems.append(
                    f"lines/{self.line.name}/patches/{name} differs from src/{PACKAGE}: run `make patches`"
                )
        for rel in unowned:
            problems.append(f"{PKG_PREFIX}{rel} is edited but no patch owns it: run `make patches TOPIC=...`")
        if names != self.series():
            problems.append(
                f"src/{PACKAGE} holds lines/{self.line.name}/series only up to {names[-1] if names else '(none)'}: "
                f"run `make vendor LINE={self.line.name}` once the edit is exported"
            )
        return problems


# --------------------------------------------------------------------------------------------------- helpers
def content_hash(data):
    return None if data is None else hashlib.sha256(data).hexdigest()


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
    """Files (relative to src/diffusers) a unified diff touches, in its order, as `git apply --numstat` lists them."""
    if not body.strip():
        return []
    proc = subprocess.run(
        ["git", "apply", "--numstat", "-"],
        input=body,
        capture_output=True,
        text=True,
        env=GIT_ENV,
        cwd=tempfile.gettempdir(),
    )
    if proc.returncode != 0:
        raise PatchQueueError(f"not a diff git can read: {proc.stderr.strip()}")
    files = []
    for line in proc.stdout.splitlines():
        path = line.split("\t", 2)[2]
        if not path.startswith(PKG_PREFIX):
            raise PatchQueueError(f"the diff touches {path}, outside {PKG_PREFIX}")
        files.append(path[len(PKG_PREFIX) :])
    return files


def apply_strict(patch, stage, name, strip=1, allow_offsets=False):
    """
    Apply one patch inside `stage` with git apply: exact context, no fuzz, and no hunk moved by an offset unless
    `allow_offsets` (to rebase the patches above one that changed; `export` then writes them without offsets). `strip`
    is git apply's `-p`: 1 where `stage` holds `src/diffusers`, 2 where it holds `diffusers`.
    """
    env = dict(GIT_ENV, GIT_CEILING_DIRECTORIES=str(Path(stage).parent))
    cmd = ["git", "apply", "-v", f"-p{strip}", "--whitespace=nowarn", str(patch)]
    proc = subprocess.run(cmd, cwd=stage, env=env, capture_output=True, text=True)
    output = proc.stdout + proc.stderr
    current = "?"
    for line in output.splitlines():
        checking = re.match(r"Checking patch (.+?)\.\.\.$", line)
        if checking:
            current = checking.group(1)
        if ("(offset" in line and not allow_offsets) or "fuzz" in line:
            raise PatchQueueError(f"patch {name} applies to {current} only with an offset: {line.strip()}")
    if proc.returncode != 0:
        failed = re.search(r"^error: patch failed: (.+?):(\d+)$", output, re.M)
        if failed:
            raise PatchQueueError(f"patch {name} does not apply to {failed.group(1)} (hunk at line {failed.group(2)})")
        errors = [line[len("error: ") :] for line in output.splitlines() if line.startswith("error: ")]
        raise PatchQueueError(f"patch {name} does not apply to {current}: {'; '.join(errors) or output.strip()}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.queue", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help="repository root (default: this checkout)")
    parser.add_argument("--line", default=None, help="the line (default: $LINE, see above)")
    sub = parser.add_subparsers(dest="command", required=True)
    vendor = sub.add_parser("vendor", help="materialize src/diffusers from the pinned sdist and the series")
    vendor.add_argument("--force", action="store_true", help="replace src/diffusers even if it holds edits")
    vendor.add_argument("--upto", help="apply the series only up to this patch (to edit it; see above)")
    vendor.add_argument(
        "--allow-offsets", action="store_true", help="let hunks move (after editing a lower patch); then `export`"
    )
    export = sub.add_parser("export", help="re-export the applied patches from src/diffusers")
    export.add_argument("--topic", help="patch file that takes edited files no patch owns yet")
    export.add_argument("--files", nargs="+", help="with --topic: only these files (default: every unowned edit)")
    sub.add_parser("check", help="fail when src/diffusers holds edits not exported to the line's patches")
    sub.add_parser("version", help="print the fork version of the line")
    args = parser.parse_args(argv)
    try:
        kwargs = {"root": args.root} if args.root else {}
        line = select(args.line, materialized_first=args.command != "vendor", **kwargs)
        queue = Queue(line)
        if args.command == "vendor":
            names = queue.vendor(force=args.force, upto=args.upto, allow_offsets=args.allow_offsets)
            upto = f" (up to {args.upto})" if args.upto else ""
            print(f"src/{PACKAGE}: line {line.name}, {queue.name} {queue.fork_version}, {len(names)} patch(es){upto}")
        elif args.command == "export":
            names, dropped = queue.export(topic=args.topic, files=args.files)
            for name, rel in dropped:
                print(f"note: {name} no longer changes {PKG_PREFIX}{rel}")
            print(f"exported line {line.name}: {len(names)} patch(es) in lines/{line.name}/patches")
        elif args.command == "check":
            problems = queue.problems()
            if problems:
                for problem in problems:
                    print(f"patchq: {problem}", file=sys.stderr)
                return 1
            print(f"patch queue of line {line.name} in sync: {len(queue.series())} patch(es)")
        elif args.command == "version":
            print(queue.fork_version)
    except (PatchQueueError, LineError) as err:
        print(f"patchq: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
