"""Checks that every `# Copied from diffusers.<path>[ with A->B, C->D]` block matches its source.

    python -m forktools.upstream.copies [--root src] [--pristine DIR] [--fix] [FILE ...]

Upstream's `utils/check_copies.py` is in neither the sdist nor a fresh clone, so this is its logic, offline: a block
is the marker's `def` or `class` with its body, its source is found by import path, the replacements are applied to
the source, and the two must be equal as text or after `ruff format`. With FILEs, only the markers in them and the
copies elsewhere of code in them that differs from --pristine are checked; a drift the pristine release already has
is not reported. `--fix` rewrites each out-of-sync block from its source.
"""

import argparse
import difflib
import functools
import os
import re
import subprocess
import sys
from collections import namedtuple


MARKER = re.compile(r"^(\s*)# Copied from (diffusers\.[\w.]+)(?:\s+with\s+(.+?))?\s*$")
CLOSING = re.compile(r"^\s*\)(\s*->.*:|:)\s*$")
REPLACEMENT = re.compile(r"^\s*(\S+?)\s*->\s*(\S+)(?:\s+(.*))?$")
Copy = namedtuple("Copy", "file start end source replacements")  # start, end: the block's lines, 0-based


@functools.cache
def lines_of(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def block_end(lines, start, indent):
    """One past the last line of the def/class at `start` whose header is indented by `indent`."""
    end = start + 1
    while end < len(lines) and (
        not lines[end].strip()
        or lines[end].startswith((indent + " ", indent + "\t"))
        or (CLOSING.match(lines[end]) and lines[end].startswith(indent))
    ):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return end


def find_object(root, name):
    """(file, start, end) of the object `diffusers.a.b.Obj.method` in the folder `root` holding `diffusers`, or None."""
    parts = name.split(".")
    modules = [i for i in range(len(parts) - 1, 0, -1) if os.path.isfile(os.path.join(root, *parts[:i]) + ".py")]
    if not modules:
        return None
    path, split = os.path.join(root, *parts[: modules[0]]) + ".py", modules[0]
    lines, start, end, indent = lines_of(path), 0, None, ""
    for qual in parts[split:]:
        header = re.compile(rf"^{indent}(?:async\s+)?(?:def|class)\s+{re.escape(qual)}\b")
        start = next((i for i in range(start, end or len(lines)) if header.match(lines[i])), None)
        if start is None:
            return None
        end, indent = block_end(lines, start, indent), indent + "    "
    return path, start, end


def code_of(root, name):
    found = find_object(root, name)
    return "\n".join(lines_of(found[0])[found[1] : found[2]]) if found else None


def find_copies(path):
    lines = lines_of(path)
    for i, line in enumerate(lines[:-1]):
        if (marker := MARKER.match(line)) and re.match(rf"{marker[1]}(?:async\s+)?(?:def|class)\s", lines[i + 1]):
            yield Copy(path, i + 1, block_end(lines, i + 1, marker[1]), marker[2], marker[3])


def expected_code(root, copy):
    """The copy's source, indented as the copy and with its replacements applied; None when it is not found."""
    if (source := code_of(root, copy.source)) is None:
        return None
    source_indent = re.match(r"\s*", source)[0]
    indent = re.match(r"\s*", lines_of(copy.file)[copy.start])[0]
    code = "\n".join(
        "" if not line.strip() else indent + line[len(source_indent) :] if line.startswith(source_indent) else line
        for line in source.split("\n")
    )
    for old, new, options in [m.groups() for m in map(REPLACEMENT.match, (copy.replacements or "").split(",")) if m]:
        code = re.sub(old, new, code)
        if "all-casing" in (options or ""):
            code = re.sub(old.upper(), new.upper(), re.sub(old.lower(), new.lower(), code))
    return code


def ruff_format(code):
    cmd = [sys.executable, "-m", "ruff", "format", "--line-length", "119", "-"]
    proc = subprocess.run(cmd, input=code, capture_output=True, text=True)
    return proc.stdout if proc.returncode == 0 else code


def same_code(a, b):
    wrap = "class _Wrapper:\n" if a[:1].isspace() else ""  # ruff formats methods inside a class
    return a == b or ruff_format(wrap + a) == ruff_format(wrap + b)


def drift(expected, current):
    """The lines a copy changes in its source's code, without their positions."""
    diff = difflib.unified_diff(expected.split("\n"), current.split("\n"), lineterm="", n=0)
    return [line for line in diff if not line.startswith(("@@", "---", "+++"))]


def inherited(root, pristine, copy, current, expected):
    """
    Whether the pristine release has this drift already: the same copy with the source unchanged by us, or (the source
    changed by us) the copy differs from the source by exactly what upstream's copy differs from upstream's source.
    """
    if pristine is None or code_of(pristine, copy.source) is None:
        return False
    if not os.path.isfile(theirs_file := os.path.join(pristine, os.path.relpath(copy.file, root))):
        return False
    if code_of(root, copy.source) == code_of(pristine, copy.source):
        return current in "\n".join(lines_of(theirs_file))
    header = lines_of(copy.file)[copy.start]
    theirs = [c for c in find_copies(theirs_file) if c.source == copy.source and lines_of(c.file)[c.start] == header]
    if len(theirs) != 1:
        return False
    their_current = "\n".join(lines_of(theirs_file)[theirs[0].start : theirs[0].end])
    return drift(expected_code(pristine, theirs[0]), their_current) == drift(expected, current) != []


def run(root, files=None, fix=False, pristine=None, out=sys.stdout):
    """Check (or `fix`) the copies under `root` (the folder holding `diffusers`); 1 when one is out of sync."""
    lines_of.cache_clear()
    walk = sorted(os.walk(os.path.join(root, "diffusers")))
    paths = [os.path.join(folder, name) for folder, _, names in walk for name in sorted(names) if name.endswith(".py")]
    copies = [copy for path in paths for copy in find_copies(path)]
    if files is not None:
        targets = {os.path.abspath(f) for f in files}

        def ours(copy):  # in a target file, or a copy of code in one that we changed
            if os.path.abspath(copy.file) in targets:
                return True
            found = find_object(root, copy.source)
            changed = pristine is None or code_of(root, copy.source) != code_of(pristine, copy.source)
            return found is not None and os.path.abspath(found[0]) in targets and changed

        copies = [copy for copy in copies if ours(copy)]
    drifted, missing = {}, 0
    for copy in copies:
        rel = os.path.relpath(copy.file, root)
        if (expected := expected_code(root, copy)) is None:
            print(f"{rel}:{copy.start}: source {copy.source} not found", file=out)
            missing += 1
            continue
        current = "\n".join(lines_of(copy.file)[copy.start : copy.end])
        if not same_code(current, expected) and not inherited(root, pristine, copy, current, expected):
            path, line, _ = find_object(root, copy.source)
            where = f"{os.path.relpath(path, root)}:{line + 1}"
            print(f"{rel}:{copy.start + 1}: copy of {copy.source} ({where}) is out of sync", file=out)
            drifted.setdefault(copy.file, []).append((copy, expected))
    if not fix:
        return 1 if drifted or missing else 0
    for path, items in drifted.items():
        lines = list(lines_of(path))
        for copy, expected in sorted(items, key=lambda item: -item[0].start):
            lines[copy.start : copy.end] = expected.split("\n")
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        print(f"fixed {len(items)} copies in {os.path.relpath(path, root)}", file=out)
    return 1 if missing else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="src", help="folder holding the `diffusers` package")
    parser.add_argument("--fix", action="store_true", help="rewrite out-of-sync copies from their source")
    parser.add_argument("--pristine", help="folder holding upstream's `diffusers`: its drifts are not ours")
    parser.add_argument("files", nargs="*", help="limit the check to these files and the copies of their code")
    args = parser.parse_args(argv)
    rc = run(args.root, args.files or None, fix=args.fix, pristine=args.pristine)
    if rc == 0 and not args.fix:
        print("all `# Copied from` blocks in sync")
    return rc


if __name__ == "__main__":
    sys.exit(main())
