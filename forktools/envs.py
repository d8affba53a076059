"""Test environments of the lines (`[environments]` of line.toml): virtualenvs under build/envs/<name>, each pinning
one transformers release, made with `--system-site-packages` so that they reuse this machine's torch.

    python -m forktools.envs create NAME | line NAME     create build/envs/NAME | print the line that declares it

Also what differs between the releases the lines install: `tree_version` and `dtype_keyword`.
"""

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


def path(name, root=ROOT):
    return root / "build" / "envs" / name


def declared(name, root=ROOT):
    """(line name, [requirement, ...]) of the environment `name`."""
    found = {env: (line, pins) for line in names(root) for env, pins in Line(line, root).environments.items()}
    if name not in found:
        raise SystemExit(f"no environment {name!r}: lines declare {', '.join(sorted(found)) or 'none'}")
    return found[name]


def create(name, root=ROOT):
    requirements, python = declared(name, root)[1], path(name, root) / "bin" / "python"
    if not python.is_file():
        venv.EnvBuilder(system_site_packages=True, with_pip=True).create(path(name, root))
    subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    # `make install ENV=...` installs the fork with these as pip constraints: a line whose requirements conflict with
    # them fails to install instead of replacing the environment's transformers.
    (path(name, root) / "constraints.txt").write_text("".join(f"{requirement}\n" for requirement in requirements))
    print(f"{path(name, root)}: {' '.join(requirements)}")


def main(args):
    if len(args) != 2 or args[0] not in ("create", "line"):
        sys.exit(__doc__)
    if args[0] == "create":
        create(args[1])
    else:
        print(declared(args[1])[0])


if __name__ == "__main__":
    main(sys.argv[1:])
