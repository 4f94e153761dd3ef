# -*- coding: utf-8 -*-
"""The Celery canvas subset the original's scripts use (signatures, chain, group, chord, chunks),
mapped onto child jobs.

Every task of a canvas becomes a real child job at once, with its own id. A task that needs the
result of earlier ones (the next link of a chain, the body of a chord) starts by waiting for them
(its slot is lent out while it waits), then receives their results as its params, as Celery
passes them: the previous link's result for a chain, the list of the header's results for a chord.
A result is passed raw when its task's pc has raw=True, else wrapped in the task meta
({'progress': 100, 'result': <value>}), as in the original."""
import uuid

from pixyz_worker import _backend

__all__ = ["Signature", "signature", "chain", "group", "chord", "chunks", "xmap", "xstarmap", "maybe_signature"]


class Signature(object):
    def __init__(self, task=None, args=None, kwargs=None, options=None, immutable=False):
        self.task = task
        self.args = tuple(args or ())
        self.kwargs = dict(kwargs or {})
        self.options = dict(options or {})
        self.immutable = immutable

    @property
    def name(self):
        return getattr(self.task, "name", None)

    def set(self, immutable=None, **options):
        if immutable is not None:
            self.immutable = immutable
        self.options.update(options)
        return self

    def clone(self, args=None, kwargs=None, **opts):
        merged_kwargs = dict(self.kwargs)
        merged_kwargs.update(kwargs or {})
        options = dict(self.options)
        options.update(opts)
        return Signature(self.task, tuple(args or ()) + self.args, merged_kwargs, options, self.immutable)

    def apply_async(self, args=None, kwargs=None, **options):
        return apply(self.clone(args, kwargs, **options))

    def delay(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def __call__(self, *args, **kwargs):
        return self.task(*(tuple(args) + self.args), **dict(self.kwargs, **kwargs))

    def __or__(self, other):
        return chain(self, other)

    def __repr__(self):
        return "%s%r" % (self.name, self.args)


def signature(varies, *args, **kwargs):
    if isinstance(varies, (Signature, _Canvas)):
        return varies
    raise TypeError("signature() takes a Signature here")


maybe_signature = signature


def _tasks(tasks):
    """group(a, b), group([a, b]) and group(a for ...) are the same group."""
    if len(tasks) == 1 and not isinstance(tasks[0], (Signature, _Canvas)):
        return list(tasks[0])
    return list(tasks)


class _Canvas(object):
    options = None

    def set(self, **options):
        self.options = dict(self.options or {}, **options)
        return self

    def apply_async(self, args=None, kwargs=None, **options):
        if options:
            self.set(**options)
        return apply(self, extra_args=tuple(args or ()))

    def delay(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def __call__(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def __or__(self, other):
        return chain(self, other)


class chain(_Canvas):
    def __init__(self, *tasks, **options):
        self.tasks = _tasks(tasks)
        self.options = options


class group(_Canvas):
    def __init__(self, *tasks, **options):
        self.tasks = _tasks(tasks)
        self.options = options


class chord(_Canvas):
    def __init__(self, header, body=None, **options):
        self.header = header if isinstance(header, group) else group(_tasks((header,)))
        self.body = body
        self.options = options

    def __call__(self, body=None, **options):
        if body is not None:
            self.body = body
        return self.apply_async(**options)


def _signature_of(task):
    return task if isinstance(task, Signature) else Signature(task)


class xstarmap(_Canvas):
    """task(*args) for each args of `it`, one after the other in one child job, whose result is the
    list of their values (each raw or wrapped, as its pc says)."""

    def __init__(self, task, it, **options):
        self.task = _signature_of(task)
        self.it = list(it)
        self.options = options

    def _calls(self):
        return [tuple(args) for args in self.it]


class xmap(xstarmap):
    """task(arg) for each arg of `it`, in one child job."""

    def _calls(self):
        return [(arg,) for arg in self.it]


class chunks(_Canvas):
    """Celery's chunks(task, it, n) (also task.chunks(it, n)): the calls task(*args) for each args of
    `it`, n per child job: a group of xstarmap. .get() gives one list of values per chunk."""

    def __init__(self, task, it, n, **options):
        n = int(n)
        if n < 1:
            raise ValueError("chunks: n must be 1 or more, got %r" % (n,))
        self.task = _signature_of(task)
        self.it = list(it)
        self.n = n
        self.options = options

    def group(self):
        return group(
            [xstarmap(self.task, self.it[i:i + self.n]) for i in range(0, len(self.it), self.n)],
            **dict(self.options or {})
        )


# Applying a canvas --------------------------------------------------------------------------------

DEP = object()  # stands for the result the task receives from the tasks it waits for


def _dependency(result):
    """What a waiting task receives: the tree of results it waits for."""
    from celery.result import AsyncResult

    if isinstance(result, AsyncResult):
        return {"id": result.id, "raw": result._raw}
    return {"list": [_dependency(r) for r in result.results]}


def _attach(result, parent):
    if parent is None:
        return
    root = result
    while root.parent is not None:
        root = root.parent
    if root is not parent:
        root.parent = parent


def apply(node, after=None, extra_args=(), options=None):
    """Starts every task of `node` as a child job; `after`: the results its first tasks wait for."""
    from celery.result import GroupResult

    inherited = dict(options or {})
    inherited.update(node.options or {})
    if isinstance(node, Signature):
        return _spawn(node, after, extra_args, inherited)
    if isinstance(node, chain):
        result, previous = None, after
        for index, task in enumerate(node.tasks):
            current = apply(task, previous, extra_args if index == 0 else (), inherited)
            _attach(current, result)
            result, previous = current, _dependency(current)
        return result
    if isinstance(node, group):
        return GroupResult(str(uuid.uuid4()), [apply(task, after, extra_args, inherited) for task in node.tasks])
    if isinstance(node, chord):
        if node.body is None:
            raise TypeError("chord(header)(body): the chord has no body")
        header = apply(node.header, after, extra_args, inherited)
        body = apply(node.body, _dependency(header), (), inherited)
        _attach(body, header)
        return body
    if isinstance(node, chunks):
        return apply(node.group(), after, extra_args, inherited)
    if isinstance(node, xstarmap):
        return _spawn_starmap(node, after, inherited)
    raise TypeError("cannot apply %r" % (node,))


def _spawn(sig, after, extra_args, inherited):
    from celery.result import AsyncResult

    spawn = getattr(sig.task, "spawn_signature", None)
    if spawn is None:
        raise NotImplementedError("task %s cannot run as a child job here: use pixyz_execute" % sig.name)
    options = dict(inherited)
    options.update(sig.options)
    receives = after is not None and not sig.immutable
    positional = ((DEP,) if receives else ()) + tuple(extra_args) + sig.args
    job_id, raw = spawn(positional, dict(sig.kwargs), options, after)
    return AsyncResult(job_id, raw=raw)


def _spawn_starmap(node, after, inherited):
    from celery.result import AsyncResult

    sig = node.task
    spawn = getattr(sig.task, "spawn_starmap", None)
    if spawn is None:
        raise NotImplementedError("task %s cannot run as a child job here: use pixyz_execute" % sig.name)
    options = dict(inherited)
    options.update(sig.options)
    # As a Celery partial: each call's arguments come before the signature's own.
    calls = [call + sig.args for call in node._calls()]
    # The chunk's value is its list as it is; each item in it is raw or wrapped as its pc says.
    return AsyncResult(spawn(calls, dict(sig.kwargs), options, after), raw=True)
