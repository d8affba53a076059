"""The fork's own tooling (never part of the installed package; run from the repository root with `python -m`).

- `forktools.lines`: the upstream lines (`lines/<line>/`) and which one `src/diffusers` holds.
- `forktools.queue`: the patch queue of a line (`make vendor`, `make patches`, `make check-patches`).
- `forktools.envs`: a line's test environments (`make env`), and what differs between the releases they install.
- `forktools.outcomes`: the pytest plugin every tool records test outcomes with.
- `forktools.standins`: SD3 / SD3.5-shaped stand-in pipelines built offline, from tiny to full size.
- `forktools.upstream`: what goes to, or checks against, upstream: `quality`, `copies` (the `# Copied from` checker),
  `pr` (the pull requests) and `suite` (upstream's own tests, pristine vs fork).
- `forktools.measure`: harnesses that measure rather than test: `compare`, `bench` and `gpu_check` (with its
  pytest plugin `gpu_probe`).
"""
