"""Packaging for the fork: installs the materialized `src/diffusers` as `diffusers==<upstream>+<label>`.

The runtime requirements and optional extras are upstream's, read from the pinned sdist's metadata, so an upstream
bump changes them with no edit here. Our `test` extra replaces upstream's (which pulls torchvision).
"""

import sys
import tomllib
from email.parser import Parser
from pathlib import Path

from setuptools import find_packages, setup


ROOT = Path(__file__).resolve().parent
with open(ROOT / "upstream.toml", "rb") as f:
    PIN = tomllib.load(f)
NAME, VERSION = PIN["upstream"]["name"], PIN["upstream"]["version"]
PKG_INFO = ROOT / "build" / "upstream" / f"{NAME}-{VERSION}" / "PKG-INFO"

if not (ROOT / "src" / "diffusers" / "__init__.py").is_file() or not PKG_INFO.is_file():
    sys.exit("src/diffusers is not materialized yet: run `make install` (or `make vendor`, then pip install -e .)")

metadata = Parser().parsestr(PKG_INFO.read_text(encoding="utf-8"))
install_requires, extras = [], {}
for requirement in metadata.get_all("Requires-Dist") or []:
    spec, _, marker = requirement.partition(";")
    if "extra ==" in marker:
        extra = marker.split("extra ==")[1].strip().strip("\"'")
        extras.setdefault(extra, []).append(spec.strip())
    else:
        install_requires.append(requirement.strip())

# Upstream's `test` and `dev` extras pull torchvision, which breaks `import transformers` beside a CPU torch.
extras.pop("dev", None)
extras["test"] = [
    "accelerate>=0.31.0",
    "pytest",
    "ruff==0.9.10",
    "sentencepiece>=0.1.91,!=0.1.92",
    "tokenizers",
    "transformers>=4.41.2",
]

setup(
    name=NAME,
    version=f"{VERSION}+{PIN['fork']['local_label']}",
    description="diffusers with SD3-family mixed-precision fixes (patched fork)",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache 2.0 License",
    url="https://github.com/huggingface/diffusers",
    package_dir={"": "src"},
    packages=find_packages("src"),
    package_data={"diffusers": ["py.typed", "utils/model_card_template.md"]},
    python_requires=metadata.get("Requires-Python", ">=3.11.0"),
    install_requires=install_requires,
    extras_require=extras,
    entry_points={"console_scripts": ["diffusers-cli=diffusers.commands.diffusers_cli:main"]},
)
