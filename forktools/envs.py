"""Test environments of the lines: virtualenvs under build/envs/<name>, each pinning one transformers release.

    python -m forktools.envs create NAME     create build/envs/NAME (once) and install its pins
    python -m forktools.envs list           every environment of every line
    python -m forktools.envs line NAME      the line that declares NAME

An environment is declared in its line's `line.toml` (`[environments]`, a list of pip requirements). It is created
with `--system-site-packages`, so it reuses this machine's torch (and whatever else the pins leave alone) while the
pinned packages shadow the system's. `make install LINE=0.39 ENV=NAME` then installs the fork into it.
"""

import argparse
import subprocess
import sys
import venv

from .lines import ROOT, Line, names


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
