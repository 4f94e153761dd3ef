# -*- coding: utf-8 -*-
"""Running one job's entrypoint: the ProgramContext, the script module, the child-job envelope.

Shared by the job harness (a job under the daemon or `pixyz-scheduler run`) and by the in-process
local mode (child jobs of LocalPixyzTask.from_commandline)."""
import asyncio
import datetime
import importlib.util
import inspect
import json
import os
import sys
import traceback

from pixyz_worker import _backend
from pixyz_worker.exception import ChildJobError, InternalError
from pixyz_worker.pc import ProgramContext, _utcnow
from pixyz_worker.progress import TaskProgress

ENVELOPE_KEY = _backend.ENVELOPE_KEY
# Keys of a pc that describe the running job: a child job gets its own.
RUNTIME_KEYS = frozenset(
    ["progress", "task", "input_dir", "input_file", "output_dir", "queue", "retry", "task_id", "is_local", "script"]
)
_HIDDEN_FILES = set([os.path.abspath(__file__)])
# The job running in this process (the innermost one in local mode): what its children inherit.
_context = {"data": None}


def hide_from_tracebacks(path):
    _HIDDEN_FILES.add(os.path.abspath(path))


# JSON --------------------------------------------------------------------------------------------


def _default(value):
    from celery.result import ResultBase

    if isinstance(value, ResultBase):
        return value.as_tuple()
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, BaseException):
        return "%s: %s" % (type(value).__name__, value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError("Object of type %s is not JSON serializable" % type(value).__name__)


def dumps(value):
    """One JSON line; NaN and Infinity are refused (JSON has no such values)."""
    return json.dumps(value, default=_default, allow_nan=False, separators=(",", ":"))


def to_json_value(value):
    return json.loads(dumps(value))


def serialize_pc(pc):
    """The part of a pc a child job receives: its user keys, JSON-safe (the rest is dropped)."""
    out = {}
    for key, value in pc.items():
        if key in RUNTIME_KEYS:
            continue
        if key == "data" and value is not None and value == _context["data"]:
            continue  # the job's own input: the child gets its own copy of it
        try:
            out[key] = to_json_value(value)
        except (TypeError, ValueError):
            pass
    return out


# Errors ------------------------------------------------------------------------------------------


def _keep(frame):
    name = frame.filename
    return not (name.startswith("<frozen importlib") or os.path.abspath(name) in _HIDDEN_FILES)


def _trim(te):
    te.stack = traceback.StackSummary.from_list([f for f in te.stack if _keep(f)])
    for chained in (te.__cause__, te.__context__):
        if chained is not None:
            _trim(chained)


def describe(error, tb=None):
    """name, message and a traceback that starts at the script's frames."""
    te = traceback.TracebackException(type(error), error, tb or error.__traceback__)
    _trim(te)
    return {"name": type(error).__name__, "message": str(error), "stack": "".join(te.format()).rstrip("\n")}


# The script --------------------------------------------------------------------------------------


def load_module(script, name="external"):
    """Loads the script file as a module named 'external' (as the original), so its
    `if __name__ == '__main__':` block does not run."""
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load the script %s" % script)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def get_entry(module, entrypoint):
    entry = getattr(module, entrypoint, None)
    if not callable(entry):
        raise ValueError("The script does not have the function %s" % entrypoint)
    return entry


def call_entry(entry, pc):
    value = entry(pc, pc["params"])
    if inspect.isawaitable(value):
        value = asyncio.run(_await(value))
    return value


async def _await(awaitable):
    return await awaitable


def _init_pixyz_if_imported():
    if "pxz" in sys.modules:
        from pixyz_worker.share import PiXYZSession

        PiXYZSession.initialize()


# Child-job envelope ------------------------------------------------------------------------------


def envelope_of(params):
    if isinstance(params, dict) and len(params) == 1 and isinstance(params.get(ENVELOPE_KEY), dict):
        return params[ENVELOPE_KEY]
    return None


def _leaf_ids(tree, into):
    if "id" in tree:
        if tree["id"] not in into:
            into.append(tree["id"])
    else:
        for item in tree.get("list", []):
            _leaf_ids(item, into)
    return into


def _value_of(tree, outcomes):
    from celery.result import wrap_result

    if "id" in tree:
        outcome = outcomes[tree["id"]]
        if outcome["status"] != "SUCCESS":
            raise ChildJobError(tree["id"], outcome["status"], outcome.get("error"))
        value = outcome.get("result")
        return value if tree.get("raw") else wrap_result(tree["id"], value, outcome)
    return [_value_of(item, outcomes) for item in tree.get("list", [])]


def _wait_for(after, backend):
    """A chain link or chord body: waits for the jobs before it; their result(s)."""
    ids = _leaf_ids(after, [])
    outcomes = {o["id"]: o for o in backend.wait(ids)}
    return _value_of(after, outcomes)


def build_pc(spec, envelope, backend):
    input_file = spec.get("inputFile")
    data = spec.get("inputArchive") or input_file
    root_file = None
    if spec.get("inputArchive") and input_file:
        root_file = os.path.relpath(input_file, spec["inputDir"])
    base = dict(envelope.get("pc") or {}) if envelope is not None else {}
    if "data" in base:
        # The signature named its own input (e.g. a file the parent wrote): used as it is.
        data = base["data"]
        if data is not None and not os.path.exists(data):
            raise InternalError("File %s not found on the shared storage" % data)
        input_file = data
        root_file = base.get("root_file")
    else:
        base["root_file"] = root_file
    base.update(
        task_id=spec["jobId"],
        script=spec["script"],
        data=data,
        entrypoint=spec["entrypoint"],
        is_local=os.environ.get("PIXYZ_LOCAL") == "1" or backend.local,
    )
    base.setdefault("time_request", _utcnow())
    base.setdefault("compute_only", bool(spec.get("computeOnly", False)))
    base.setdefault("shadow", None)
    pc = ProgramContext(**base)
    progress = TaskProgress(None, spec["jobId"], 1, pc["time_request"], backend=backend)
    pc.update(
        input_dir=spec["inputDir"],
        input_file=input_file,
        output_dir=spec["outputDir"],
        progress=progress,
        queue=spec["queue"],
        retry=spec.get("retry", 0),
    )
    return pc


def _iso(moment):
    """ISO 8601 in UTC with an explicit +00:00, as the daemon writes times."""
    if moment is None:
        return None
    if isinstance(moment, str):  # a time that came through JSON (a child's pc)
        try:
            moment = datetime.datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).isoformat(timespec="milliseconds")


def task_meta(pc, name=None):
    """A job's meta as the daemon reports it with a child's outcome (name, progress, steps,
    time_info, retry), from the pc of a job run in this process."""
    progress = pc.get("progress")
    steps = [dict(step) for step in getattr(progress, "steps", [])]
    started = getattr(progress, "time_started", None)
    stopped = getattr(progress, "time_stopped", None) or datetime.datetime.now(datetime.timezone.utc)
    return {
        "name": name,
        "progress": getattr(progress, "percent", 100),
        "steps": steps,
        "time_info": {"request": _iso(pc.get("time_request")), "started": _iso(started), "stopped": _iso(stopped)},
        "retry": pc.get("retry") or 0,
    }


def _run_starmap(spec, items, module, backend):
    """A chunk of calls (celery.chunks, xstarmap) in this one job, one after the other: each item
    is the pc and params of one call. The list of their values, each wrapped unless its pc is raw."""
    from celery.result import wrap_result

    values = []
    for item in items:
        item_pc = dict(item.get("pc") or {})
        entrypoint = item_pc.get("entrypoint") or spec["entrypoint"]
        pc = build_pc(spec, {"pc": item_pc}, backend)
        pc["entrypoint"] = entrypoint
        entry = get_entry(module, entrypoint)
        pc.update(params=item.get("params"))
        value = call_entry(entry, pc)
        pc["progress"].stop()
        values.append(value if pc.get("raw") else wrap_result(spec["jobId"], value, task_meta(pc)))
    return values


def run_job(spec, backend, top=False, ran=None):
    """Runs the job described by `spec` (the daemon's JobSpec); returns the entrypoint's value.
    `ran` (a dict) receives the job's pc, for its meta."""
    envelope = envelope_of(spec.get("params"))
    saved = dict(_context)
    try:
        pc = build_pc(spec, envelope, backend)
        if ran is not None:
            ran["pc"] = pc
        _context["data"] = pc["data"]
        script_dir = os.path.dirname(os.path.abspath(spec["script"]))
        if top and script_dir not in sys.path:
            sys.path.insert(0, script_dir)
        if top:
            # The script's own files are not cached as bytecode beside it (a job folder, PROCESS_DIR).
            sys.dont_write_bytecode = True
        module = load_module(spec["script"])
        if envelope is not None and envelope.get("starmap") is not None:
            if top:
                _init_pixyz_if_imported()
            if envelope.get("after") is not None:
                _wait_for(envelope["after"], backend)  # a chunk receives nothing: it only waits
            return _run_starmap(spec, envelope["starmap"], module, backend)
        entry = get_entry(module, spec["entrypoint"])
        if top:
            _init_pixyz_if_imported()
        if envelope is None:
            params = spec.get("params")
        elif envelope.get("after") is not None:
            received = _wait_for(envelope["after"], backend)
            params = received if envelope.get("receives") else envelope.get("params")
        else:
            params = envelope.get("params")
        pc.update(params=params)
        value = call_entry(entry, pc)
        pc["progress"].stop()
        return value
    finally:
        _context.clear()
        _context.update(saved)
