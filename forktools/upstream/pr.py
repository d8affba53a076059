"""`make pr`: the upstream pull request, as one `git am`-able patch plus its description.

    python -m forktools.upstream.pr [--out pr]      write pr/0001-<subject>.patch and pr/PR.md
    python -m forktools.upstream.pr --check [--out DIR]
                                            also apply the patch with `git apply --check` to a fresh pristine tree

The patch is made in a scratch git repository laid out like upstream's (the pristine sdist: `src/diffusers`,
`tests/`, ...): every patch of the series whose DEP-3 `Bug:` is issue #11117 (and not `Forwarded: not-needed`) is
applied, the
upstream-style tests under tests/pipelines/ are added where upstream keeps them, and one commit with fixed author
and dates is exported with `git format-patch`, so the same tree always gives the same patch.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap


from .. import queue as patchq
from ..lines import ROOT, select


ISSUE = "https://github.com/huggingface/diffusers/issues/11117"
UPSTREAM_TESTS = ["tests/pipelines/stable_diffusion_3/test_pipeline_stable_diffusion_3_dtype.py"]
SUBJECT = "[SD3] Keep text encoders and prompt embeddings in the pipeline's dtype"
AUTHOR = ("diffusers SD3 dtype fork", "sd3-dtype-fork@users.noreply.github.com")
DATE = "2026-01-01T00:00:00+00:00"


def git(*args, cwd, check=True):
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME=AUTHOR[0],
        GIT_AUTHOR_EMAIL=AUTHOR[1],
        GIT_COMMITTER_NAME=AUTHOR[0],
        GIT_COMMITTER_EMAIL=AUTHOR[1],
        GIT_AUTHOR_DATE=DATE,
        GIT_COMMITTER_DATE=DATE,
    )
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def forwarded_patches(queue):
    """The patches that make up this PR: those whose DEP-3 `Bug:` is the PR's issue, unless marked not-needed."""
    names = []
    for name in queue.series():
        fields = queue.header_fields(queue.read_patch(name)[0])
        if fields.get("Bug") == ISSUE and not fields.get("Forwarded", "").lower().startswith("not-needed"):
            names.append(name)
    return names


def pristine_repo(queue, folder):
    """A git repository holding the pristine sdist, laid out like upstream's repository."""
    shutil.copytree(queue.upstream_dir, folder, ignore=shutil.ignore_patterns("*.egg-info", "PKG-INFO"))
    git("init", "-q", "-b", "main", cwd=folder)
    git("add", "-A", cwd=folder)
    git("commit", "-q", "-m", f"diffusers {queue.version}", cwd=folder)


def commit_message(queue, names):
    lines = [SUBJECT, ""]
    lines.append("Fixes #11117.")
    lines.append("")
    for name in names:
        description = queue.header_fields(queue.read_patch(name)[0]).get("Description", "")
        title, _, body = description.partition("\n")
        lines.append(f"* {title}")
        for paragraph in body.split("\n.\n"):
            text = " ".join(line.strip() for line in paragraph.splitlines() if line.strip() and line.strip() != ".")
            if text:
                lines.append("")
                lines.append(textwrap.fill(text, 72))
        lines.append("")
    tests = "Tests: " + ", ".join(UPSTREAM_TESTS) + " (tiny components built in code, no hub access)."
    lines.append(textwrap.fill(tests, 72))
    return "\n".join(lines) + "\n"


def build_patch(out):
    queue = patchq.Queue(select(materialized_first=True))
    names = forwarded_patches(queue)
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "diffusers")
        pristine_repo(queue, repo)
        for name in names:
            proc = git("apply", "--whitespace=nowarn", os.path.join(queue.patches, name), cwd=repo, check=False)
            if proc.returncode != 0:
                raise SystemExit(f"patch {name} does not apply to pristine upstream: {proc.stderr.strip()}")
        for rel in UPSTREAM_TESTS:
            os.makedirs(os.path.dirname(os.path.join(repo, rel)), exist_ok=True)
            shutil.copyfile(os.path.join(ROOT, rel), os.path.join(repo, rel))
        git("add", "-A", cwd=repo)
        message = os.path.join(tmp, "message")
        with open(message, "w") as f:
            f.write(commit_message(queue, names))
        git("commit", "-q", "-F", message, cwd=repo)
        patch = git("format-patch", "-1", "--stdout", "--no-signature", cwd=repo).stdout
        stat = git("show", "--stat", "--format=", "HEAD", cwd=repo).stdout
    slug = re.sub(r"[^a-z0-9]+", "-", SUBJECT.lower()).strip("-")[:60]
    os.makedirs(out, exist_ok=True)
    for old in os.listdir(out):
        if old.endswith(".patch"):
            os.remove(os.path.join(out, old))
    path = os.path.join(out, f"0001-{slug}.patch")
    with open(path, "w") as f:
        f.write(patch)
    return path, names, stat


def check_applies(patch):
    """`git apply --check` the exported patch on a fresh pristine tree laid out like upstream's repository."""
    queue = patchq.Queue(select(materialized_first=True))
    with tempfile.TemporaryDirectory() as tmp:
        repo = os.path.join(tmp, "diffusers")
        pristine_repo(queue, repo)
        proc = git("apply", "--check", "-v", patch, cwd=repo, check=False)
        if proc.returncode != 0 or "(offset" in proc.stdout + proc.stderr:
            raise SystemExit(f"{patch} does not apply cleanly to pristine upstream:\n{proc.stderr.strip()}")
    print(f"{os.path.relpath(patch, ROOT)} applies to pristine diffusers {queue.version} (git apply --check)")


def read(path, default=""):
    full = os.path.join(ROOT, path)
    return open(full).read().strip() if os.path.isfile(full) else default


def pr_body(names, stat):
    compare = read("out/compare.md", "(run `make compare` to fill in this table)")
    slow_tiny = read("out/sd35-slow-report-tiny.md", "(run `make test-slow-tiny` to fill in this table)")
    slow_gpu = read("out/sd35-slow-report.md", "")
    gpu = (
        slow_gpu
        if slow_gpu and "device: cpu" not in slow_gpu
        else "Not run yet on a GPU: run `make test-slow` on a GPU box and paste `out/sd35-slow-report.md` here."
    )
    return f"""# {SUBJECT}

## What does this PR do?

Fixes #11117: `StableDiffusion3Pipeline.from_pretrained("stabilityai/stable-diffusion-3.5-medium",
torch_dtype=torch.bfloat16)` followed by `pipe(prompt)` failed with `expected mat1 and mat2 to have the same dtype,
but got: c10::Half != c10::BFloat16`, and the only advice was "use fp16". Today's combination (diffusers 0.42.1 +
transformers 5.x) loads the plain bf16 case, but every neighbouring case still fails: loading with no dtype, a
per-component dtype dict, a text encoder passed in with another dtype (T5 in fp32 "for quality", CLIP in fp16),
precomputed embeddings of another dtype, across the whole SD3 family. With this PR every text encoder follows the
pipeline's dtype at load time, and `encode_prompt` hands the transformer embeddings in one well-defined dtype
whatever precision each encoder runs in.

## Root cause

1. **Loading, transformers 4.49**: `_from_config` fell back to the checkpoint dtype for the submodule built from the
   config, so a `CLIPTextModelWithProjection` loaded with `torch_dtype=torch.bfloat16` kept `text_model` in the
   checkpoint's fp16 while `text_projection` was bf16 (fixed in transformers #36335 / #36679). Users on those
   releases still hit it, and diffusers never checked what it got back.
2. **Loading, transformers v5**: the default dtype is now "auto" (the checkpoint's), while diffusers models load in
   fp32 when no dtype is given. A plain `from_pretrained(repo)` therefore gives fp16 text encoders beside an fp32
   transformer and VAE, and generation fails.
3. **`encode_prompt`**: both CLIP outputs were cast to CLIP-L's dtype, the T5 output to T5's dtype, and the pooled
   embeddings never. Any text encoder in another dtype than the transformer's made `torch.cat` promote the
   embeddings to fp32; the latents then followed `prompt_embeds.dtype` and the transformer failed.

## What changed, and why at this depth

- `pipeline_loading_utils.load_sub_model` (shared by every pipeline): transformers models get fp32 when no dtype
  is given, like diffusers models; after loading, any floating parameter or buffer not in the requested dtype is
  cast in place, one tensor at a time (no second copy of the weights), leaving `_keep_in_fp32_modules` (T5's `wo`
  in fp16) and quantized models alone. Modules passed in by the user and device placement are never touched.
- `DiffusionPipeline.from_pretrained`: `dtype`/`torch_dtype` (and each value of a dtype dict) may be a
  `torch.dtype` or its name (`"bfloat16"`, `"fp16"`, ...); anything else is a `ValueError` listing the accepted
  values instead of a warning and a silent fallback to fp32.
- `StableDiffusion3Pipeline.encode_prompt` gains a `dtype` argument (default: the transformer's dtype; without a
  transformer, the promotion of the text encoders' dtypes). Every encoder output, pooled ones included, is cast to
  it before concatenation, and so are embeddings passed in by the caller; the T5-less path returns zeros in it.
  `__call__` prepares latents in the transformer's dtype, and the VAE encodes and decodes in its own dtype.
  A text encoder whose parameters are in several dtypes fails with an error naming the component, the dtypes it
  holds and the one expected. The img2img, inpaint, ControlNet, ControlNet inpainting and PAG pipelines get the
  same code through `# Copied from`; the modular SD3 pipeline gets the same behaviour.

The load-time fix sits in the shared loader so every pipeline with transformers components benefits; the
encode-time fix sits in the SD3 source methods so the family stays one copy.

## Before / after

{compare}

## How was it tested?

- Fast tests added in `{UPSTREAM_TESTS[0]}` (tiny components and tokenizers built in code, no hub access).
- The fork's broader scenario suite (the table above) runs each case against pristine 0.42.1 and this change.
- Slow suite (SD3.5 Medium and Large x fp16/bf16/fp32, default load, T5-fp32 mixed load; cross-precision
  agreement by pixel correlation against the fp32 image of the same seed), rehearsed on CPU with SD3.5-shaped
  tiny stand-ins:

{slow_tiny}

On a GPU:

{gpu}

## Deliberately left out

- No clamping when casting fp32 encoder outputs to fp16 (the outputs are layer-normed and far below fp16's range).
- Layerwise-casting / fp8 text encoders, and a dtype report command: separate features.
- Other families with the same `encode_prompt` pattern (Flux, ...) are not changed here; the loader part already
  helps them.

## Files

```
{stat.strip()}
```

## Before submitting
- [x] Tests added, no hub access needed.
- [x] `make style && make quality` equivalents (ruff 0.9.10 with upstream's config, `# Copied from` consistency).
- [x] Docstrings updated (`encode_prompt`'s new `dtype` argument).
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "pr"))
    parser.add_argument("--check", action="store_true", help="also git apply --check the patch on pristine upstream")
    args = parser.parse_args()
    patch, names, stat = build_patch(args.out)
    with open(os.path.join(args.out, "PR.md"), "w") as f:
        f.write(pr_body(names, stat))
    print(f"wrote {os.path.relpath(patch, ROOT)} ({len(names)} patch(es) of the series) and PR.md")
    if args.check:
        check_applies(patch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
