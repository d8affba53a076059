"""The upstream lines this fork carries.

A line is one folder, `lines/<name>/`: `line.toml` (the pinned upstream release, the upstream test tree its PRs are
written against, its test environments and its pull requests), `series` and `patches/`. Everything else in the
repository is shared by every line. `fork.toml` holds what the lines share (the version label, the default line).

`src/diffusers` holds one line at a time, the one `make vendor LINE=...` materialized last, as a git repository (see
forktools.queue); `src/.applied` records which line and which patches of its series.
"""

import json
import os
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "diffusers"


class LineError(Exception):
    pass


class Line:
    """One upstream line: its pin, its patch series and the paths derived from them."""

    def __init__(self, name=None, root=ROOT):
        self.root = Path(root).resolve()
        with open(self.root / "fork.toml", "rb") as f:
            fork = tomllib.load(f)["fork"]
        self.label = fork["local_label"]
        self.name = name or fork["default_line"]
        self.folder = self.root / "lines" / self.name
        if not (self.folder / "line.toml").is_file():
            raise LineError(
                f"no line {self.name!r}: lines/{self.name}/line.toml does not exist (lines: {names(root)})"
            )
        with open(self.folder / "line.toml", "rb") as f:
            self.config = tomllib.load(f)
        upstream = self.config["upstream"]
        self.package = upstream.get("name", PACKAGE)
        self.version = upstream["version"]
        self.sdist = upstream["sdist"]
        self.sha256 = upstream["sha256"].lower()
        self.series_file = self.folder / "series"
        self.patches = self.folder / "patches"
        self.upstream_dir = self.root / "build" / "upstream" / f"{self.package}-{self.version}"
        self.pristine = self.upstream_dir / "src" / self.package
        self.work = self.root / "src" / self.package
        self.state_file = self.root / "src" / ".applied"
        cache = os.environ.get("FORK_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "diffusers-fork")
        self.cache = Path(cache)

    def __repr__(self):
        return f"Line({self.name!r}: {self.package} {self.version})"

    @property
    def fork_version(self):
        return f"{self.version}+{self.label}"

    @property
    def environments(self):
        """The line's test environments: {name: [pip requirement, ...]} (`make env ENV=name`)."""
        return dict(self.config.get("environments", {}))

    @property
    def upstream_tests(self):
        """The upstream git revision whose `tests/` the line's PRs extend, and what it is."""
        return dict(self.config.get("upstream_tests", {}))

    @property
    def pull_requests(self):
        """The line's upstream pull requests, in order: dicts from `[[pr]]` tables of line.toml."""
        return [dict(pr) for pr in self.config.get("pr", [])]

    def series(self):
        if not self.series_file.is_file():
            return []
        names = []
        for line in self.series_file.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                names.append(line)
        return names


def names(root=ROOT):
    """Every line of the repository, sorted by name."""
    folder = Path(root) / "lines"
    return sorted(p.parent.name for p in folder.glob("*/line.toml"))


def of_version(version, root=ROOT):
    """The line whose pinned upstream release is `version` (a fork version such as "0.39.0+mixeddtype" works too)."""
    version = version.split("+")[0]
    for name in names(root):
        line = Line(name, root)
        if line.version == version:
            return line
    raise LineError(f"no line pins diffusers {version} (lines: {names(root)})")


def materialized(root=ROOT):
    """
    What `src/diffusers` holds: {"line": name, "applied": [patch, ...]} as `make vendor` or `make patches` last
    recorded it, or None when nothing is materialized (or with no record of how). Its git history has the rest.
    """
    state = Path(root) / "src" / ".applied"
    if not (Path(root) / "src" / PACKAGE / "__init__.py").is_file() or not state.is_file():
        return None
    return json.loads(state.read_text())


def select(name=None, root=ROOT, materialized_first=False):
    """
    The line a command acts on: `name` (or $LINE); else, with `materialized_first`, the line `src/diffusers` holds;
    else the default line.
    """
    name = name or os.environ.get("LINE") or None
    if name is None and materialized_first:
        state = materialized(root)
        name = state["line"] if state else None
    return Line(name, root)


def main(argv=None):
    """`python -m forktools.lines`: print the line src/diffusers holds; exit 1 when $LINE names another one."""
    import sys

    state = materialized()
    held = state["line"] if state else None
    wanted = os.environ.get("LINE") or None
    print(f"src/{PACKAGE} holds line {held}" if held else f"src/{PACKAGE} is not materialized")
    if wanted and wanted != held:
        print(f"LINE={wanted}, but src/{PACKAGE} holds {held}: run `make vendor LINE={wanted}`", file=sys.stderr)
        return 1
    return 0 if held else 1


if __name__ == "__main__":
    raise SystemExit(main())
