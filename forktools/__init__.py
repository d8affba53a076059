"""The fork's own tooling, run from the repository root with `python -m forktools.<module>` (never installed): `lines`
and `queue` (the lines and their patch queues on git), `carry`, `envs` (test environments), `outcomes` (the pytest
plugin recording test outcomes), `standins`, `upstream` (`quality`, `copies`, `pr`, `suite`) and `measure`.
"""
