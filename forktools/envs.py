"""Test environments of the lines: virtualenvs under build/envs/<name>, each pinning one transformers release.

    python -m forktools.envs create NAME     create build/envs/NAME (once) and install its pins
    python -m forktools.envs list           every environment of every line
    python -m forktools.envs line NAME      the line that declares NAME

An environment is declared in its line's `line.toml` (`[environments]`, a list of pip requirements). It is created
with `--system-site-packages`, so it reuses this machine's torch (and whatever else the pins leave alone) while the
pinned packages shadow the system's. `make install LINE=0.39 ENV=NAME` then installs the fork into it.

What differs between the releases the lines install is read here too: `tree_version` (the `__version__` of a source
tree) and `dtype_keyword` (the dtype argument of `from_pretrained`).
"""

import argparse
import re
import subprocess
import sys
import venv
from importlib import import_module
from pathlib import Path

from .lines import ROOT, Line, names


VERSION_LINE = re.compile(r'^__version__ = "(.+)"$', re.M)
# The first release whose `from_pretrained` takes `dtype` (older ones take `torch_dtype`; newer ones still take it,
# with a deprecation warning).
DTYPE_KEYWORD_SINCE = {"diffusers": (0, 40), "transformers": (4, 56)}


def tree_version(src, package="diffusers"):
    """The `__version__` of `src/<package>/__init__.py` (a source tree, pristine or materialized), or None."""
    init = Path(src) / package / "__init__.py"
    found = VERSION_LINE.search(init.read_text(encoding="utf-8")) if init.is_file() else None
    return found.group(1) if found else None


def dtype_keyword(library="diffusers"):
    """`dtype` or `torch_dtype`: the dtype keyword of `from_pretrained` in the installed diffusers or transformers."""
    from packaging.version import Version

    release = Version(import_module(library).__version__).release
    return "dtype" if release >= DTYPE_KEYWORD_SINCE[library] else "torch_dtype"


def declared(root=ROOT):
    """{environment name: (line name, [requirement, ...])} over every line."""
    found = {}
    for line_name in names(root):
        for env_name, requirements in Line(line_name, root).environments.items():
            found[env_name] = (line_name, list(requirements))
    return found


def path(name, root=ROOT):
    return root / "build" / "envs" / name


def create(name, root=ROOT):
    environments = declared(root)
    if name not in environments:
        raise SystemExit(f"no environment {name!r}: lines declare {', '.join(sorted(environments)) or 'none'}")
    _, requirements = environments[name]
    folder = path(name, root)
    python = folder / "bin" / "python"
    if not python.is_file():
        venv.EnvBuilder(system_site_packages=True, with_pip=True).create(folder)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    # `make install ENV=...` installs the fork with these as pip constraints: a line whose requirements conflict with
    # them fails to install instead of replacing the environment's transformers.
    (folder / "constraints.txt").write_text("".join(f"{requirement}\n" for requirement in requirements))
    print(f"{folder}: {' '.join(requirements)}")
    return python


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m forktools.envs", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create", help="create an environment").add_argument("name")
    sub.add_parser("list", help="list the environments of every line")
    sub.add_parser("line", help="print the line that declares an environment").add_argument("name")
    args = parser.parse_args(argv)
    if args.command == "create":
        create(args.name)
    elif args.command == "line":
        environments = declared()
        if args.name not in environments:
            raise SystemExit(f"no environment {args.name!r}: lines declare {', '.join(sorted(environments))}")
        print(environments[args.name][0])
    else:
        for env_name, (line_name, requirements) in sorted(declared().items()):
            print(f"{env_name}\tline {line_name}\t{' '.join(requirements)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
