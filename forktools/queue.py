"""The patch queue of a line, on git (CONTRIBUTING.md): `src/diffusers` is a git repository whose first commit (tag
`upstream`) is the line's sha256-checked release, version stamped, and whose next commits are the patches of the
series, one each (a `Patch-Filename:` trailer names its file); the tag `exported` marks the commit the patch files were
last written from, or built from.

    python -m forktools.queue [--line L] vendor [--force] [--rebase] | export [--topic P] [--files F ...] | check
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from email import message_from_string, policy
from email.utils import parseaddr
from pathlib import Path

from .lines import FORK, PACKAGE, LineError, materialized, select


PKG_PREFIX = f"src/{PACKAGE}/"
# git runs without user or system configuration, in the C locale, as the fork at a fixed date: the same queue gives the
# same commits and byte-identical patch files on every machine.
GIT_ENV = dict(os.environ, LC_ALL="C", LANG="C", LANGUAGE="C", GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
GIT_ENV.update(GIT_EDITOR="true", GIT_SEQUENCE_EDITOR="true", GIT_TERMINAL_PROMPT="0")
for _who, _value in zip(("NAME", "EMAIL", "DATE"), [*parseaddr(FORK["author"]), "2026-01-01T00:00:00+00:00"]):
    GIT_ENV.update({f"GIT_AUTHOR_{_who}": _value, f"GIT_COMMITTER_{_who}": _value})
FORMAT = ["format-patch", "--stdout", "--keep-subject", "--no-stat", "--no-signature", "--zero-commit", "--no-renames"]
FORMAT += ["--diff-algorithm=myers", f"--src-prefix=a/{PKG_PREFIX}", f"--dst-prefix=b/{PKG_PREFIX}"]
MAIL_START = re.compile(r"^(?=From 0{40} )", re.M)
NAME_LINE = re.compile(r"^Patch-Filename: (.+)\n", re.M)
INDEX_LINE = re.compile(r"^index [0-9a-f]+\.\.[0-9a-f]+( [0-7]+)?\n", re.M)  # blob ids: churn at every earlier change
FIXUP = re.compile(r"^(fixup|squash|amend)! ", re.M)
CONFLICT_MARKER = re.compile(r"^\+(<<<<<<<|>>>>>>>)( |$)", re.M)
NEW_PATCH = """TODO one line saying what this patch changes\n\nTODO a paragraph saying why it exists.\n
Bug: TODO upstream issue URL, or "none"\nForwarded: no\nPatch-Filename: {}\n"""


class PatchQueueError(Exception):
    pass


def git(repo, *args, check=True, input=None, env=None):
    """Run git in `repo`; the result's `out` is its stdout, decoded (bytes in and out: carriage returns are kept)."""
    proc = subprocess.run(["git", *args], cwd=repo, env={**GIT_ENV, **(env or {})}, capture_output=True, input=input)
    proc.out, proc.err = proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")
    if check and proc.returncode:
        raise PatchQueueError(f"git {args[0]} failed in {repo}: {(proc.err or proc.out).strip()}")
    return proc


def rev(repo, ref):
    return git(repo, "rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False).out.strip() or None


def conflicts(repo):
    return git(repo, "diff", "--name-only", "--diff-filter=U").out.split()


def stopped(repo):
    """The git command that stopped half-way in `repo` (at a conflict), as a sentence, or None."""
    for marker, command in (("rebase-merge", "rebase"), ("rebase-apply", "am"), ("CHERRY_PICK_HEAD", "cherry-pick")):
        if (Path(repo) / ".git" / marker).exists():
            return f"a `git {command}` stopped half-way (`git -C src/{PACKAGE} {command} --continue` or --abort)"


def pending(repo, commits=True):
    """Why `repo` (a materialized src/diffusers) holds work that the patch files may lack, or None."""
    if not (Path(repo) / ".git").is_dir():
        return "a tree that is not a git repository made by `make vendor`"
    if why := stopped(repo):
        return why
    if dirty := git(repo, "status", "--porcelain", "--untracked-files=all").out.splitlines():
        return f"edits not exported ({', '.join(PKG_PREFIX + line[3:] for line in dirty[:3])}{', ...' * (len(dirty) > 3)})"
    return "commits not exported" if commits and rev(repo, "HEAD") != rev(repo, "exported") else None


class Queue:
    """The patch queue of a line; the line's attributes (version, patches, work, upstream_dir, ...) are its own."""

    def __init__(self, line):
        self.line, self.where = line, f"lines/{line.name}"

    def __getattr__(self, name):
        return getattr(self.line, name)

    def ensure_pristine(self, fresh=False):
        """The pristine package (build/upstream/...), extracted from the sha256-checked sdist when missing (or `fresh`)."""
        if not fresh and (self.pristine / "__init__.py").is_file():
            return self.pristine
        archive = self.cache / self.sdist
        if not archive.is_file():  # pip downloads the pinned version's sdist into the cache
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", archive.parent]
            proc = subprocess.run([*cmd, f"{self.package}=={self.version}"], capture_output=True, text=True)
            if not archive.is_file():
                raise PatchQueueError(f"could not download {archive.name}: {(proc.stderr or proc.stdout)[-300:]}")
        if (digest := hashlib.sha256(archive.read_bytes()).hexdigest()) != self.sha256:
            raise PatchQueueError(
                f"sha256 mismatch for {archive}: expected {self.sha256} ({self.where}/line.toml), got {digest}; "
                "nothing was extracted. Delete the file to download it again, or fix line.toml."
            )
        self.upstream_dir.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.upstream_dir.parent) as tmp, tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
            if not (top := Path(tmp) / f"{self.package}-{self.version}" / "src" / PACKAGE / "__init__.py").is_file():
                raise PatchQueueError(f"{archive} has no {top.relative_to(tmp)}")
            shutil.rmtree(self.upstream_dir, ignore_errors=True)
            os.replace(top.parents[2], self.upstream_dir)
        return self.pristine

    def release_repo(self, dest):
        """Make `dest` a git repository of the pristine release, version stamped (PEP 440 local version): `upstream`."""
        shutil.copytree(self.ensure_pristine(), dest)
        init = Path(dest) / "__init__.py"
        pattern = re.compile(rf'^__version__ = "{re.escape(self.version)}"$', re.M)
        stamped, count = pattern.subn(f'__version__ = "{self.fork_version}"', init.read_text(encoding="utf-8"))
        if count != 1:
            raise PatchQueueError(f'src/{PACKAGE}/__init__.py has no line `__version__ = "{self.version}"`')
        init.write_bytes(stamped.encode("utf-8"))
        git(dest, "init", "-q", "-b", "patches")
        Path(dest, ".git", "info").mkdir(exist_ok=True)
        Path(dest, ".git", "info", "exclude").write_text("__pycache__/\n*.pyc\n")
        message = f"{self.package} {self.version}\n\n{self.sdist}, sha256 {self.sha256}"
        for args in (["add", "-A"], ["commit", "-q", "-m", message], ["tag", "upstream"]):
            git(dest, *args)

    # ----------------------------------------------------------------------------------------------- patch files
    def read_patch(self, name):
        """(header, diff) of a patch: its mail headers and message, then the diff from the first `diff --git`."""
        if not (self.patches / name).is_file():
            raise PatchQueueError(f"{self.where}/patches/{name} does not exist (the series lists it)")
        head, found, diff = (self.patches / name).read_bytes().decode("utf-8").partition("\ndiff --git ")
        if not head.startswith("From ") or not found:
            raise PatchQueueError(f"{self.where}/patches/{name} is not a `git format-patch` mail")
        return head + "\n", "diff --git " + diff

    def header(self, name):
        """
        A patch's DEP-3 header: ({"Subject": ..., and its message's trailers: "Bug", "Forwarded", "Origin", ...}, the
        other paragraphs of its message, a line each).
        """
        mail = message_from_string(self.read_patch(name)[0].partition("\n")[2], policy=policy.default)
        body = mail.get_payload()
        trailers = git(self.root, "interpret-trailers", "--parse", "--no-divider", input=body.encode()).out
        fields = dict(line.split(": ", 1) for line in trailers.splitlines())
        paragraphs = [" ".join(paragraph.split()) for paragraph in body.split("\n\n") if paragraph.strip()]
        return {"Subject": str(mail["Subject"] or ""), **fields}, paragraphs[:-1] if fields else paragraphs

    def on_disk(self):
        return [(name, "".join(self.read_patch(name))) for name in self.series()]

    # ----------------------------------------------------------------------------------------------- repository
    def render(self, repo, ref="HEAD"):
        """[(patch, text), ...] that `git format-patch` makes of `ref`'s commits after the release."""
        base, rendered = git(repo, "rev-list", "--max-parents=0", ref).out.split()[0], {}
        for text in MAIL_START.split(git(repo, *FORMAT, f"{base}..{ref}").out)[1:]:
            if not (name := NAME_LINE.search(text)) or name.group(1) in rendered:
                raise PatchQueueError(
                    f"the commit {text.split('Subject: ')[1].splitlines()[0]!r} of src/{PACKAGE} names "
                    f"{'a patch twice' if name else 'no patch'}: squash it into one (`git commit --fixup`) or give its"
                    " message a line `Patch-Filename: <name>.patch`, then `make patches`"
                )
            rendered[name.group(1)] = INDEX_LINE.sub("", NAME_LINE.sub("", text, 1)).rstrip("\n") + "\n"
        return list(rendered.items())

    def commits(self, repo):
        """{patch: commit} of the patches in `repo`."""
        log = git(repo, "log", "--format=%H %B%x00", "upstream..HEAD").out.split("\0")
        return {m.group(1): entry.split()[0] for entry in log if (m := NAME_LINE.search(entry + "\n"))}

    def materialize(self, dest):
        """Make `dest` a git repository of the release and the series (`git am`); True when every patch applied exactly."""
        self.release_repo(dest)
        names = self.series()
        mails = "".join(f"{h[:-1]}Patch-Filename: {n}\n\n{d}" for n in names for h, d in [self.read_patch(n)])
        proc = mails and git(dest, "am", "--keep", "--keep-cr", "-p3", check=False, input=mails.encode())
        if proc and proc.returncode:
            failed = re.search(r"Patch failed at (\d+)", proc.out + proc.err)
            name = names[int(failed.group(1)) - 1] if failed else "?"
            errors = "; ".join(line[7:] for line in proc.err.splitlines() if line.startswith("error: ")) or proc.err
            raise PatchQueueError(f"patch {name} does not apply to {self.package} {self.version}: {errors}")
        if exact := self.render(dest) == self.on_disk():
            git(dest, "tag", "exported")
        return exact

    def build_tree(self, dest):
        """Write the fork's package (the release and the series) to `dest/diffusers`, and return that folder."""
        self.materialize(Path(dest) / PACKAGE)
        shutil.rmtree(Path(dest) / PACKAGE / ".git")
        return Path(dest) / PACKAGE

    def applied(self):
        """The patches src/diffusers holds, checking that it is this line's git repository."""
        if (state := materialized(self.root)) is None or not (self.work / ".git").is_dir():
            raise PatchQueueError(f"src/{PACKAGE} is not a git repository made by `make vendor`: run `make vendor`")
        if state["line"] != self.line.name:
            raise PatchQueueError(
                f"src/{PACKAGE} holds line {state['line']}, not {self.line.name}: run `make vendor "
                f"LINE={self.line.name}` (it refuses to discard unexported edits)"
            )
        return state["applied"]

    def save_state(self, names):
        self.state_file.write_text(json.dumps({"line": self.line.name, "applied": names}) + "\n")

    # ----------------------------------------------------------------------------------------------- commands
    def vendor(self, force=False):
        """Build src/diffusers afresh; True when every patch applied exactly (else `make patches` rewrites them)."""
        if self.work.exists() and not force and (why := pending(self.work)):
            raise PatchQueueError(f"src/{PACKAGE} holds {why}: `make patches` exports, `make vendor FORCE=1` discards")
        self.ensure_pristine(fresh=True)
        (self.root / "build").mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root / "build", prefix="stage-") as stage:
            exact = self.materialize(Path(stage) / PACKAGE)
            if self.work.exists():
                os.replace(self.work, Path(stage) / "old")
            self.work.parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(stage) / PACKAGE, self.work)
        self.save_state(self.series())
        return exact

    def rebase(self):
        """Move src/diffusers' patches onto the pinned release (after a bump) with git's three-way rebase."""
        self.applied()
        if why := pending(self.work):
            raise PatchQueueError(f"src/{PACKAGE} holds {why}: run `make patches` first")
        self.ensure_pristine(fresh=True)
        with tempfile.TemporaryDirectory(dir=self.root / "build") as tmp:
            self.release_repo(Path(tmp) / PACKAGE)
            git(self.work, "fetch", "-q", "--no-tags", str(Path(tmp) / PACKAGE), "HEAD")
        old = rev(self.work, "upstream")
        git(self.work, "tag", "-f", "upstream", "FETCH_HEAD")
        if git(self.work, "rebase", "-q", "--onto", "upstream", old, check=False).returncode:
            raise PatchQueueError(
                f"a patch conflicts with {self.package} {self.version} in {', '.join(conflicts(self.work))}: resolve, "
                f"`git add`, `git -C src/{PACKAGE} rebase --continue` (at each stop), then `make patches`"
            )

    def export(self, topic=None, files=None):
        """Commit the edits (`commit`), squash the fixups, write the patches; returns (series, files left)."""
        repo = self.work
        self.applied()
        if why := stopped(repo):
            raise PatchQueueError(f"src/{PACKAGE} holds {why}")
        if rev(repo, "exported") and self.render(repo, "exported") != self.on_disk():
            raise PatchQueueError(
                f"{self.where}/patches changed since src/{PACKAGE} was built (a pull, a checkout, an edit): `make "
                f"vendor` takes them in (`FORCE=1` discards src/{PACKAGE}'s unexported work)"
            )
        if topic and (not topic.endswith(".patch") or "/" in topic):
            raise PatchQueueError(f"TOPIC must be a file name ending in .patch, got {topic!r}")
        git(repo, "add", "-A")
        try:
            left = self.commit(repo, topic, files)
        finally:  # edits not committed stay as they were, unstaged (a `commit --amend` leaves them out)
            git(repo, "reset", "-q")
        squash = ["rebase", "-q", "-i", "--autosquash", "--autostash", "upstream"]
        if (
            FIXUP.search(git(repo, "log", "--format=%s", "upstream..").out)
            and git(repo, *squash, check=False).returncode
        ):
            raise PatchQueueError(
                f"squashing the fixups stopped at a conflict in {', '.join(conflicts(repo))}: resolve, `git add`, "
                f"`git -C src/{PACKAGE} rebase --continue`, then `make patches`"
            )
        rendered = dict(self.render(repo))
        for name, text in rendered.items():
            if not (self.patches / name).is_file() or (self.patches / name).read_bytes() != text.encode():
                (self.patches / name).write_bytes(text.encode())
        for name in set(self.series()) - set(rendered):
            (self.patches / name).unlink(missing_ok=True)
        self.series_file.write_text("".join(f"{name}\n" for name in rendered))
        git(repo, "tag", "-f", "exported")
        self.save_state(list(rendered))
        return list(rendered), left

    def commit(self, repo, topic, files):
        """Commit the staged edits (of `files`) into `topic`, else each file's as a fixup of its last patch."""
        edited = git(repo, "diff", "--cached", "--name-only", "--no-renames", "-z", "HEAD").out.split("\0")[:-1]
        wanted = sorted({f.removeprefix(PKG_PREFIX) for f in files}) if files else edited
        if set(wanted) - set(edited) or (topic and not wanted):
            raise PatchQueueError(f"not edited: {', '.join(sorted(set(wanted) - set(edited))) or 'any file'}")
        if wanted and CONFLICT_MARKER.search(git(repo, "diff", "--cached", "HEAD", "--", *wanted).out):
            raise PatchQueueError(f"src/{PACKAGE} holds merge conflict markers: resolve them first")
        if topic and topic not in (commits := self.commits(repo)):
            git(repo, "commit", "-q", "-m", NEW_PATCH.format(topic), "--", *wanted)
        elif wanted:
            last = {r: git(repo, "log", "-1", "--format=%H", "upstream..", "--", r).out.strip() for r in wanted}
            owners = {rel: commits[topic] for rel in wanted} if topic else last
            if unowned := [PKG_PREFIX + rel for rel, owner in owners.items() if not owner]:
                raise PatchQueueError(f"no patch touches {', '.join(unowned)}: `make patches TOPIC=<name>.patch`")
            for owner in dict.fromkeys(owners.values()):
                git(repo, "commit", "-q", f"--fixup={owner}", "--", *[rel for rel in wanted if owners[rel] == owner])
        return sorted(set(edited) - set(wanted))

    def problems(self):
        """Everything that makes the queue and src/diffusers disagree, as one line each."""
        names, files = self.series(), sorted(p.name for p in self.patches.glob("*.patch"))
        problems = [f"{self.where}/patches/{n} is not listed in {self.where}/series" for n in files if n not in names]
        for name in names:
            (head, diff), where = self.read_patch(name), f"{self.where}/patches/{name}"
            fields = self.header(name)[0]
            # DEP-3: a backport says where it comes from (Origin), not whether it was sent upstream.
            fields["Forwarded"] = fields.get("Forwarded") or fields.get("Origin", "").startswith("backport")
            if missing := [key for key in ("Subject", "Bug", "Forwarded") if not fields.get(key)]:
                problems.append(f"{where}: header lacks {', '.join(missing)}")
            problems += [f"{where}: header still has TODO"] if "TODO" in head else []
            problems += [f"{where} adds merge conflict markers"] if CONFLICT_MARKER.search(diff) else []
        self.applied()
        if why := pending(self.work, commits=False):
            return problems + [f"src/{PACKAGE} holds {why}: run `make patches`"]
        if FIXUP.search(git(self.work, "log", "--format=%s", "upstream..").out):
            return problems + [f"src/{PACKAGE} holds fixup commits not squashed yet: run `make patches`"]
        if (rendered := self.render(self.work)) != (on_disk := self.on_disk()):
            same = set(rendered) & set(on_disk)
            stale = next((name for name, text in rendered + on_disk if (name, text) not in same), "series")
            if rev(self.work, "HEAD") == rev(self.work, "exported"):
                problems.append(f"{self.where}/patches changed since src/{PACKAGE} was built ({stale}): `make vendor`")
            else:
                problems.append(f"{self.where}/patches/{stale} differs from src/{PACKAGE}'s commits: `make patches`")
        return problems


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.queue", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["vendor", "export", "check"])
    parser.add_argument("--root", default=None, help="repository root (default: this checkout)")
    parser.add_argument("--line", default=None, help="default: $LINE, else (but for vendor) the line src/ holds")
    parser.add_argument("--force", action="store_true", help="vendor: replace src/diffusers' unexported work")
    parser.add_argument("--rebase", action="store_true", help="vendor: rebase src/diffusers onto the pinned release")
    parser.add_argument("--topic", help="export: the patch that takes the edits (new: at the end of the series)")
    parser.add_argument("--files", nargs="+", help="export: only these edited files (the others stay unexported)")
    args = parser.parse_args(argv)
    try:
        kwargs = {"root": args.root} if args.root else {}
        queue = Queue(line := select(args.line, materialized_first=args.command != "vendor", **kwargs))
        if args.command == "vendor" and args.rebase:
            queue.rebase()
            print(f"src/{PACKAGE}: the patches are on {queue.package} {queue.version} now: `make patches`")
        elif args.command == "vendor":
            exact = queue.vendor(force=args.force)
            print(f"src/{PACKAGE}: line {line.name}, {line.fork_version}, {len(queue.series())} patch(es)")
            if not exact:
                print("note: some patches apply only with offsets: `make patches` writes them exact")
        elif args.command == "export":
            names, left = queue.export(topic=args.topic, files=args.files)
            if left:
                print(f"note: left unexported: {', '.join(PKG_PREFIX + rel for rel in left)}")
            print(f"exported line {line.name}: {len(names)} patch(es) in {queue.where}/patches")
        elif problems := queue.problems():
            print("\n".join(f"patchq: {problem}" for problem in problems), file=sys.stderr)
            return 1
        else:
            print(f"patch queue of line {line.name} in sync: {len(queue.series())} patch(es)")
    except (PatchQueueError, LineError) as err:
        print(f"patchq: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
