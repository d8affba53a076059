"""The upstream lines: `lines/<name>/` holds `line.toml` (the pinned release, the upstream test revision, the test
environments, the pull requests), `series` and `patches/`; `fork.toml` what the lines share. `src/diffusers` holds one
line at a time, and `src/.applied` records which line and which patches.
"""

import json
import os
import sys
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "diffusers"
FORK = tomllib.loads((ROOT / "fork.toml").read_text())["fork"]  # this checkout's


class LineError(Exception):
    pass


class Line:
    """One upstream line: its pin, its patch series and the paths derived from them."""

    def __init__(self, name=None, root=ROOT):
        self.root = Path(root).resolve()
        fork = tomllib.loads((self.root / "fork.toml").read_text())["fork"]
        self.label, self.name = fork["local_label"], name or fork["default_line"]
        self.folder = self.root / "lines" / self.name
        if not (self.folder / "line.toml").is_file():
            raise LineError(
                f"no line {self.name!r}: lines/{self.name}/line.toml does not exist (lines: {names(root)})"
            )
        self.config = tomllib.loads((self.folder / "line.toml").read_text())
        upstream = self.config["upstream"]
        self.package, self.version = upstream.get("name", PACKAGE), upstream["version"]
        self.sdist, self.sha256 = upstream["sdist"], upstream["sha256"].lower()
        self.fork_version = f"{self.version}+{self.label}"
        self.environments = self.config.get("environments", {})  # {name: [pip requirement, ...]} (`make env`)
        self.upstream_tests = self.config.get("upstream_tests", {})  # the upstream revision the PRs' tests extend
        self.pull_requests = self.config.get("pr", [])  # the `[[pr]]` tables, in order
        self.series_file, self.patches = self.folder / "series", self.folder / "patches"
        self.upstream_dir = self.root / "build" / "upstream" / f"{self.package}-{self.version}"
        self.pristine = self.upstream_dir / "src" / self.package
        self.work, self.state_file = self.root / "src" / self.package, self.root / "src" / ".applied"
        self.cache = Path(os.environ.get("FORK_CACHE_DIR") or Path.home() / ".cache" / "diffusers-fork")

    def series(self):
        text = self.series_file.read_text() if self.series_file.is_file() else ""
        return [name for line in text.splitlines() if (name := line.split("#", 1)[0].strip())]


def names(root=ROOT):
    """Every line of the repository, sorted by name."""
    return sorted(p.parent.name for p in (Path(root) / "lines").glob("*/line.toml"))


def of_version(version, root=ROOT):
    """The line whose pinned upstream release is `version` (a fork version such as "0.39.0+mixeddtype" works too)."""
    if found := [line for name in names(root) if (line := Line(name, root)).version == version.split("+")[0]]:
        return found[0]
    raise LineError(f"no line pins diffusers {version.split('+')[0]} (lines: {names(root)})")


def materialized(root=ROOT):
    """{"line": name, "applied": [patch, ...]} of `src/diffusers`, or None when nothing is materialized."""
    state = Path(root) / "src" / ".applied"
    if not (Path(root) / "src" / PACKAGE / "__init__.py").is_file() or not state.is_file():
        return None
    return json.loads(state.read_text())


def select(name=None, root=ROOT, materialized_first=False):
    """The line `name` (or $LINE); else, with `materialized_first`, the one `src/diffusers` holds; else the default."""
    name = name or os.environ.get("LINE") or None
    if name is None and materialized_first and (state := materialized(root)):
        name = state["line"]
    return Line(name, root)


def main():
    """`python -m forktools.lines`: print the line src/diffusers holds; exit 1 when $LINE names another one."""
    held, wanted = (materialized() or {}).get("line"), os.environ.get("LINE") or None
    print(f"src/{PACKAGE} holds line {held}" if held else f"src/{PACKAGE} is not materialized")
    if wanted and wanted != held:
        print(f"LINE={wanted}, but src/{PACKAGE} holds {held}: run `make vendor LINE={wanted}`", file=sys.stderr)
        return 1
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
