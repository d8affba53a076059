"""Checks that every `# Copied from diffusers.<path>[ with A->B, C->D]` block matches its source.

    python -m forktools.upstream.copies [--root src] [--fix] [FILE ...]

With FILEs (paths of modules inside the package), only the markers in those files and the markers anywhere in the
tree whose source lies in those files are checked; without, every marker in the tree is. A block is the marker's
following `def` or `class` with its body. Its source is found by import path (module file, then qualified name
inside it), the replacements are applied to the source, and the two are compared, first as text and, when they
differ, once more after `ruff format` of both. Out-of-sync blocks are reported with both locations and the exit code
is 1; `--fix` rewrites each such block from its source instead.
"""

import argparse
import difflib
import os
import re
import subprocess
import sys
from dataclasses import dataclass


MARKER = re.compile(r"^(\s*)# Copied from (diffusers\.[\w.]+)(?:\s+with\s+(.+?))?\s*$")
CLOSING = re.compile(r"^\s*\)(\s*->.*:|:)\s*$")


@dataclass
class Copy:
    file: str
    marker_line: int  # 0-based index of the marker
    start: int  # first line of the copied block
    end: int  # one past its last line
    source_name: str
    replacements: list


def block_end(lines, start, indent):
    """One past the last line of the def/class starting at `start` whose header is indented by `indent`."""
    i = start + 1
    while i < len(lines):
        line = lines[i]
        if line.strip() == "" or line.startswith(indent + " ") or line.startswith(indent + "\t"):
            i += 1
        elif CLOSING.match(line) and line.startswith(indent):
            i += 1
        else:
            break
    while i > start + 1 and lines[i - 1].strip() == "":
        i -= 1
    return i


def find_object(root, name):
    """(file, start, end) of the object `diffusers.a.b.Obj.method`, or None."""
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        path = os.path.join(root, *parts[:split]) + ".py"
        if os.path.isfile(path):
            break
    else:
        return None
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    start, end, indent = 0, len(lines), ""
    for qual in parts[split:]:
        pattern = re.compile(rf"^{indent}(?:async\s+)?(?:def|class)\s+{re.escape(qual)}\b")
        for i in range(start, end):
            if pattern.match(lines[i]):
                start = i
                end = block_end(lines, i, indent)
                break
        else:
            return None
        indent += "    "
    return path, start, end


def parse_replacements(text):
    replacements = []
    for item in (text or "").split(","):
        match = re.match(r"^\s*(\S+?)\s*->\s*(\S+)(?:\s+(.*))?$", item)
        if match:
            replacements.append((match.group(1), match.group(2), (match.group(3) or "").strip()))
    return replacements


def apply_replacements(code, replacements):
    for old, new, options in replacements:
        code = re.sub(old, new, code)
        if "all-casing" in options:
            code = re.sub(old.lower(), new.lower(), code)
            code = re.sub(old.upper(), new.upper(), code)
    return code


def dedent_to(code_lines, from_indent, to_indent):
    out = []
    for line in code_lines:
        if line.strip() == "":
            out.append("")
        elif line.startswith(from_indent):
            out.append(to_indent + line[len(from_indent) :])
        else:
            out.append(line)
    return out


def ruff_format(code):
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--line-length", "119", "-"],
        input=code,
        capture_output=True,
        text=True,
    )
    return proc.stdout if proc.returncode == 0 else code


def find_copies(root, files):
    copies = []
    for path in files:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        for i, line in enumerate(lines):
            match = MARKER.match(line)
            if not match or i + 1 >= len(lines):
                continue
            indent = match.group(1)
            if not re.match(rf"^{indent}(?:async\s+)?(?:def|class)\s", lines[i + 1]):
                continue
            end = block_end(lines, i + 1, indent)
            copies.append(Copy(path, i, i + 1, end, match.group(2), parse_replacements(match.group(3))))
    return copies


def expected_code(root, copy, lines_of):
    found = find_object(root, copy.source_name)
    if found is None:
        return None, None
    path, start, end = found
    source_lines = lines_of(path)[start:end]
    src_indent = re.match(r"^(\s*)", source_lines[0]).group(1)
    copy_indent = re.match(r"^(\s*)", lines_of(copy.file)[copy.start]).group(1)
    code = "\n".join(dedent_to(source_lines, src_indent, copy_indent))
    return apply_replacements(code, copy.replacements), (path, start)


def same_code(a, b, indent):
    if a == b:
        return True
    if not indent:
        return ruff_format(a) == ruff_format(b)
    # Wrap methods in a class so that ruff can format them.
    wrap = "class _Wrapper:\n"
    return ruff_format(wrap + a) == ruff_format(wrap + b)


def drift(expected, current):
    """The lines a copy changes in its source's code, without their positions."""
    diff = difflib.unified_diff(expected.split("\n"), current.split("\n"), lineterm="", n=0)
    return [line for line in diff if not line.startswith(("@@", "---", "+++"))]


def python_files(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        out += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py")]
    return out


def run(root, files=None, fix=False, pristine=None, out=sys.stdout):
    root = os.path.abspath(os.path.join(root, "diffusers")) if os.path.isdir(os.path.join(root, "diffusers")) else root
    package_root = os.path.dirname(root)
    cache = {}

    def lines_of(path):
        if path not in cache:
            with open(path, encoding="utf-8") as f:
                cache[path] = f.read().split("\n")
        return cache[path]

    all_files = python_files(root)
    copies = find_copies(package_root, all_files)
    if files is not None:
        targets = {os.path.abspath(f) for f in files}

        def source_file(copy):
            found = find_object(package_root, copy.source_name)
            return os.path.abspath(found[0]) if found else None

        def source_touched(copy):
            if pristine is None:
                return True
            found, before = find_object(package_root, copy.source_name), find_object(pristine, copy.source_name)
            if before is None:
                return True
            return lines_of(found[0])[found[1] : found[2]] != lines_of(before[0])[before[1] : before[2]]

        copies = [
            c
            for c in copies
            if os.path.abspath(c.file) in targets or (source_file(c) in targets and source_touched(c))
        ]

    def inherited(copy, current, expected):
        """
        Whether upstream's release already has this drift: the same copy with the source unchanged by us, or (the
        source changed by us) the copy differs from the source by exactly what upstream's copy differs from upstream's
        source.
        """
        if pristine is None:
            return False
        pristine_file = os.path.join(pristine, os.path.relpath(copy.file, package_root))
        found, before = find_object(package_root, copy.source_name), find_object(pristine, copy.source_name)
        if before is None or not os.path.isfile(pristine_file):
            return False
        if lines_of(found[0])[found[1] : found[2]] == lines_of(before[0])[before[1] : before[2]]:
            return current in "\n".join(lines_of(pristine_file))
        theirs = [c for c in find_copies(pristine, [pristine_file]) if c.source_name == copy.source_name]
        theirs = [c for c in theirs if lines_of(pristine_file)[c.start] == lines_of(copy.file)[copy.start]]
        if len(theirs) != 1:
            return False
        their_expected, _ = expected_code(pristine, theirs[0], lines_of)
        their_current = "\n".join(lines_of(pristine_file)[theirs[0].start : theirs[0].end])
        return drift(their_expected, their_current) == drift(expected, current) != []

    drifted = []
    for copy in copies:
        expected, where = expected_code(package_root, copy, lines_of)
        rel = os.path.relpath(copy.file, package_root)
        if expected is None:
            print(f"{rel}:{copy.marker_line + 1}: source {copy.source_name} not found", file=out)
            drifted.append(copy)
            continue
        current = "\n".join(lines_of(copy.file)[copy.start : copy.end])
        indent = re.match(r"^(\s*)", current).group(1)
        if not same_code(current, expected, indent) and not inherited(copy, current, expected):
            src = f"{os.path.relpath(where[0], package_root)}:{where[1] + 1}"
            print(f"{rel}:{copy.start + 1}: copy of {copy.source_name} ({src}) is out of sync", file=out)
            drifted.append((copy, expected))
    if fix:
        by_file = {}
        for item in drifted:
            if isinstance(item, tuple):
                by_file.setdefault(item[0].file, []).append(item)
        for path, items in by_file.items():
            lines = list(lines_of(path))
            for copy, expected in sorted(items, key=lambda item: -item[0].start):
                lines[copy.start : copy.end] = expected.split("\n")
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines))
            print(f"fixed {sum(1 for _ in items)} copies in {os.path.relpath(path, package_root)}", file=out)
        return 0 if all(isinstance(item, tuple) for item in drifted) else 1
    return 1 if drifted else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default="src", help="folder holding the `diffusers` package")
    parser.add_argument("--fix", action="store_true", help="rewrite out-of-sync copies from their source")
    parser.add_argument(
        "--pristine",
        help="folder holding upstream's `diffusers`: copies elsewhere of functions unchanged there are skipped",
    )
    parser.add_argument("files", nargs="*", help="limit the check to these files and the copies of their code")
    args = parser.parse_args(argv)
    rc = run(args.root, args.files or None, fix=args.fix, pristine=args.pristine)
    if rc == 0 and not args.fix:
        print("all `# Copied from` blocks in sync")
    return rc


if __name__ == "__main__":
    sys.exit(main())
