"""Run upstream's dummy pipelines in mixed precision setups; one diffusers tree, one process (see pipelines.py).

    python forktools/measure/pipeline_worker.py OUT.jsonl FILE [FILE ...]

Run with cwd = a folder holding upstream's tests/ and PYTHONPATH = the diffusers tree to measure, then that folder.
Standalone on purpose (standard library, torch, diffusers): this repository's own `tests` package must not shadow
upstream's. torch and diffusers are imported once; each test file then runs in a forked child, so a crash or a hang
costs one file. One JSON object a line is appended to OUT per (file, test class, setup). PIPELINE_WORKER_SETUPS
(comma-separated) runs only some setups.
"""

import ast
import importlib
import inspect
import json
import os
import select
import sys
import time
import traceback


TIMEOUT = int(os.environ.get("PIPELINE_WORKER_TIMEOUT", "900"))  # seconds per test file
# The setups: (dtype of the text encoders, dtype of every other module). U is the control: it must run for a
# pipeline to count as runnable.
SETUPS = {
    "U": ("bfloat16", "bfloat16"),
    "M": ("float32", "bfloat16"),
    "R": ("bfloat16", "float32"),
    "H": ("float16", "bfloat16"),
    # P: every module in bfloat16, the prompts replaced by the embeddings the pipeline's own `encode_prompt` made,
    # passed in as float32 (precomputed in another dtype). "n/a" where `__call__` takes no `prompt_embeds`.
    "P": ("bfloat16", "bfloat16"),
}
TEXT_ENCODER_PREFIX = "text_encoder"


def is_text_encoder(name, component):
    import torch

    return name.startswith(TEXT_ENCODER_PREFIX) and isinstance(component, torch.nn.Module)


def test_classes(module):
    """The classes of `module` (defined there) that build a pipeline from dummy components, one per pipeline class."""
    found, seen = [], set()
    for name, cls in sorted(vars(module).items()):
        if not isinstance(cls, type) or cls.__module__ != module.__name__:
            continue
        pipeline_class = inspect.getattr_static(cls, "pipeline_class", None)
        if not isinstance(pipeline_class, type):
            continue
        own = {k for c in cls.__mro__ if c.__module__ == module.__name__ for k in vars(c)}
        if "get_dummy_components" in own:
            key = (pipeline_class, cls.get_dummy_components, getattr(cls, "get_dummy_inputs", None))
        elif "pretrained_model_name_or_path" in own and any(k.startswith("test_") for k in dir(cls)):
            # modular: from a hub repo, by a test class (a config class's get_pipeline may need the test mixin's)
            repo = inspect.getattr_static(cls, "pretrained_model_name_or_path")
            key = (
                pipeline_class,
                inspect.getattr_static(cls, "pipeline_blocks_class", None),
                repo,
                cls.get_dummy_inputs,
            )
        else:
            continue
        if key in seen:
            continue
        seen.add(key)
        found.append((name, cls, pipeline_class))
    return found


def make_tester(cls):
    try:
        tester = cls()
    except TypeError:
        tester = cls("__init__")
    return tester


def dummy_inputs(tester):
    params = inspect.signature(tester.get_dummy_inputs).parameters
    return tester.get_dummy_inputs("cpu") if "device" in params else tester.get_dummy_inputs()


def build(tester, pipeline_class, setup):
    """The pipeline of `tester`'s dummy components with the setup's dtypes; (pipe, {component: dtype name})."""
    import torch

    text_dtype, other_dtype = (getattr(torch, name) for name in SETUPS[setup])
    if hasattr(tester, "get_dummy_components"):
        components, pipe = tester.get_dummy_components(), None
    else:  # a modular pipeline: its components are loaded (float32) from the repo, then cast in place
        pipe = tester.get_pipeline()
        components = {name: getattr(pipe, name, None) for name in pipe.components}
    dtypes = {}
    for name, component in components.items():
        if isinstance(component, torch.nn.Module):
            dtype = text_dtype if is_text_encoder(name, component) else other_dtype
            component.to(dtype)
            dtypes[name] = str(dtype).replace("torch.", "")
    if pipe is None:
        pipe = pipeline_class(**components)
    if hasattr(pipe, "set_progress_bar_config"):
        pipe.set_progress_bar_config(disable=True)
    return pipe, dtypes


class _Captured(Exception):
    pass


def returned_names(function):
    """The names `function` returns in its last top-level `return a, b, ...` (None when it returns anything else)."""
    try:
        tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return None
    returns = [node for node in tree.body[0].body if isinstance(node, ast.Return)]
    value = returns[-1].value if returns else None
    items = value.elts if isinstance(value, ast.Tuple) else [value]
    return [item.id for item in items] if all(isinstance(item, ast.Name) for item in items) else None


def with_embeddings(pipe, inputs, dtype):
    """`inputs` with the prompts replaced by what `pipe.encode_prompt` makes of them (its floating tensors cast to
    `dtype`), matched to `__call__`'s arguments by the names `encode_prompt` returns; None when there is no match."""
    import torch

    params = inspect.signature(pipe.__call__).parameters
    names = returned_names(type(pipe).encode_prompt) if hasattr(type(pipe), "encode_prompt") else None
    if not names or "prompt_embeds" not in params or "prompt" not in inputs:
        return None
    encode, captured = pipe.encode_prompt, []

    def capture(*args, **kwargs):  # the first call of `__call__`: the prompts, as `__call__` encodes them
        captured.append(encode(*args, **kwargs))
        raise _Captured

    pipe.encode_prompt = capture
    try:
        pipe(**inputs)
    except _Captured:
        pass
    finally:
        del pipe.encode_prompt
    output = captured[0] if captured else None
    output = output if isinstance(output, tuple) else (output,)
    if len(output) != len(names):
        return None
    given = {}
    for name, value in zip(names, output):
        if name in params and value is not None:
            is_float = isinstance(value, torch.Tensor) and value.is_floating_point()
            given[name] = value.to(dtype) if is_float else value
    if "prompt_embeds" not in given:
        return None
    dropped = {"prompt": None, "negative_prompt": None} if "negative_prompt_embeds" in given else {"prompt": None}
    return {**inputs, **dropped, **given}


def control(pipe, tester, record):
    """P's control: the pipeline runs on embeddings passed in its own dtype (else P says nothing: "n/a")."""
    import torch

    try:
        inputs = with_embeddings(pipe, dummy_inputs(tester), torch.bfloat16)
        if inputs is None:
            return False
        pipe(**inputs)
        return True
    except Exception as error:
        record["control"] = short(error)
        return False


def short(error):
    text = f"{type(error).__name__}: {error}".strip().splitlines()
    return text[0][:300] if text else type(error).__name__


def where(error):
    """The innermost frame of the traceback inside diffusers: file:line function."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if "/diffusers/" in f.filename]
    if not frames:
        return ""
    f = frames[-1]
    return f"{f.filename.split('/diffusers/', 1)[1]}:{f.lineno} {f.name}"


def run_file(path, out):
    import torch

    torch.set_num_threads(1)
    module_name = path[: -len(".py")].replace("/", ".")
    records = []
    try:
        module = importlib.import_module(module_name)
        classes = test_classes(module)
    except BaseException as error:  # an import error is the file's outcome
        records.append({"file": path, "class": None, "setup": None, "outcome": "import error", "error": short(error)})
        classes = []
    for name, cls, pipeline_class in classes:
        base = {"file": path, "class": name, "pipeline": pipeline_class.__name__}
        text_conditioned = None
        for setup in os.environ.get("PIPELINE_WORKER_SETUPS", ",".join(SETUPS)).split(","):
            record = dict(base, setup=setup)
            start = time.monotonic()
            try:
                tester = make_tester(cls)
                if hasattr(tester, "setUp"):
                    tester.setUp()
                pipe, dtypes = build(tester, pipeline_class, setup)
                record["dtypes"] = dtypes
                text_conditioned = any(k.startswith(TEXT_ENCODER_PREFIX) for k in dtypes)
                record["text_conditioned"] = text_conditioned
                with torch.no_grad():
                    if hasattr(tester, "get_dummy_inversion_inputs"):  # LEDITS++: invert an image first
                        pipe.invert(**tester.get_dummy_inversion_inputs("cpu"))
                    if setup != "P":
                        pipe(**dummy_inputs(tester))
                    elif not text_conditioned or not control(pipe, tester, record):
                        record["outcome"] = "n/a"
                    else:
                        pipe(**with_embeddings(pipe, dummy_inputs(tester), torch.float32))
                record.setdefault("outcome", "ok")
            except BaseException as error:
                record["outcome"] = "crash"
                record["error"] = short(error)
                record["where"] = where(error)
            record["seconds"] = round(time.monotonic() - start, 2)
            records.append(record)
            out.write(json.dumps(record) + "\n")
            out.flush()
            if setup == "U" and (record["outcome"] != "ok" or not text_conditioned):
                break  # not runnable offline, or no text encoder to mix: the other setups say nothing
    if not classes and not records:
        records.append({"file": path, "class": None, "setup": None, "outcome": "no pipeline test class"})
    for record in records:
        if record.get("setup") is None:
            out.write(json.dumps(record) + "\n")
    out.flush()


def main(argv):
    out_path, files = argv[0], argv[1:]
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, os.getcwd())
    import torch  # noqa: F401  (imported once, before the forks)

    import diffusers  # noqa: F401

    importlib.import_module("tests.pipelines.test_pipelines_common")
    with open(out_path, "a") as out:
        for path in files:
            start = time.monotonic()
            read, write = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read)
                code = 0
                try:
                    run_file(path, out)
                except BaseException:
                    traceback.print_exc()
                    code = 1
                finally:
                    out.flush()
                    os._exit(code)
            os.close(write)
            ready, _, _ = select.select([read], [], [], TIMEOUT)  # EOF when the child exits
            os.close(read)
            if not ready:
                os.kill(pid, 9)
            _, status = os.waitpid(pid, 0)
            if not ready or status != 0:
                why = f"killed after {TIMEOUT} s" if not ready else f"worker died (status {status})"
                out.write(json.dumps({"file": path, "class": None, "setup": None, "outcome": why}) + "\n")
                out.flush()
            print(f"{path}: {time.monotonic() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
