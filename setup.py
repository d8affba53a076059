"""Packaging for the fork: installs the materialized `src/diffusers` as `diffusers==<upstream>+<label>`.

Which line `src/diffusers` holds is read from its version stamp (`make vendor LINE=...` writes it). The runtime
requirements and extras are that upstream release's, read from its sdist's metadata, so an upstream bump changes
them with no edit here. Our `test` extra takes, from upstream's own extras, only what the fork's tests use (upstream's
`test` extra pulls torchvision, which breaks `import transformers` beside a CPU torch).
"""

import sys
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from setuptools import find_packages, setup


ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from forktools.envs import tree_version  # noqa: E402 (the repository's tooling, beside this file)


# The fork's `test` extra: {upstream extra: [distributions taken from it]}.
TEST_EXTRA = {
    "test": ["ftfy", "parameterized", "pytest", "requests-mock", "sentencepiece", "torchsde", "transformers"],
    "torch": ["accelerate"],
    "quality": ["ruff", "hf-doc-builder"],
}

version = tree_version(ROOT / "src")
upstream_version = version.split("+")[0] if version else None
PKG_INFO = ROOT / "build" / "upstream" / f"diffusers-{upstream_version}" / "PKG-INFO"
if version is None or not PKG_INFO.is_file():
    sys.exit("src/diffusers is not materialized yet: run `make install` (or `make vendor`, then pip install -e .)")

metadata = Parser().parsestr(PKG_INFO.read_text(encoding="utf-8"))
install_requires, extras = [], {}
for text in metadata.get_all("Requires-Dist") or []:
    requirement = Requirement(text)
    if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
        install_requires.append(text)
        continue
    for extra in metadata.get_all("Provides-Extra") or []:
        if requirement.marker.evaluate({"extra": extra}):
            extras.setdefault(extra, []).append(requirement)
    requirement.marker = None  # setuptools adds the extra's own marker

extras_require = {name: [str(r) for r in reqs] for name, reqs in extras.items() if name not in ("test", "dev")}
extras_require["test"] = [
    str(requirement)
    for extra, wanted in TEST_EXTRA.items()
    for requirement in extras.get(extra, [])
    if requirement.name in wanted
]

setup(
    name="diffusers",
    version=version,
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
    extras_require=extras_require,
    entry_points={"console_scripts": ["diffusers-cli=diffusers.commands.diffusers_cli:main"]},
)
