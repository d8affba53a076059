"""The one way the fork's tools record test outcomes, a pytest plugin: `FORK_OUTCOMES=out.json python -m pytest -p
forktools.outcomes ...` writes {node id: [outcome, message]} (`read` loads it); a conftest may import the hooks and
RECORDED instead. An error or failure of a later phase (setup, call, teardown) wins over an earlier outcome; a file that
fails to collect is an "error" under its node id. The message: empty for a pass, the reason of a skip or xfail, else
the exception's line and pytest's report.
"""

import json
import os


OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
RECORDED = {}  # node id -> (outcome, message)


def outcome(report):
    if hasattr(report, "wasxfail"):
        return "xpassed" if report.passed else "xfailed"
    if report.failed and report.when != "call":
        return "error"
    return report.outcome


def message(report):
    if report.passed:
        return getattr(report, "wasxfail", "")
    if isinstance(report.longrepr, tuple):  # a skip: (file, line, reason)
        return report.longrepr[2]
    if hasattr(report, "wasxfail"):
        return report.wasxfail
    text = report.longreprtext
    if (crash := getattr(report.longrepr, "reprcrash", None)) is not None:
        return f"{crash.message}\n{text}"
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return f"collection failure: {errors[-1]}\n{text}" if report.when == "collect" and errors else text


def record(report):
    result = outcome(report)
    if report.nodeid not in RECORDED or result in ("error", "failed"):
        RECORDED[report.nodeid] = (result, message(report))


def pytest_runtest_logreport(report):
    if report.when == "call" or not report.passed:
        record(report)


def pytest_collectreport(report):
    if report.failed:
        record(report)


def pytest_sessionfinish(session, exitstatus):
    if path := os.environ.get("FORK_OUTCOMES"):
        with open(path, "w") as f:
            json.dump(RECORDED, f, indent=0)


def read(path):
    """{node id: (outcome, message)} of a FORK_OUTCOMES file ({} when pytest did not get to write it)."""
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        return {node: tuple(result) for node, result in json.load(f).items()}
