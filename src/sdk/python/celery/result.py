# -*- coding: utf-8 -*-
"""Results of child jobs, shaped as Celery's: .id (a real job id, pollable at /jobs/{id}), .get(),
.ready(), .state, .as_tuple(), .as_list(). Waiting goes through the daemon: while a script waits,
its slot is lent to other work, so waiting parents never starve their children. .ready(), .state,
.successful() and .failed() ask the daemon and answer at once; get(timeout=...) raises
celery.exceptions.TimeoutError when the jobs have not all ended in time."""
import uuid

from celery import states
from celery.exceptions import TimeoutError
from pixyz_worker import _backend
from pixyz_worker.exception import ChildJobError

__all__ = ["AsyncResult", "GroupResult", "ResultSet", "ResultBase", "allow_join_result", "wrap_result"]


def wrap_result(job_id, value, outcome=None):
    """The original's non-raw result: the child's task meta (its name, times, steps and retry, as
    the daemon reports them with its outcome), with the script's value under 'result'."""
    outcome = outcome or {}
    time_info = outcome.get("time_info") or {}
    meta = {
        "shadow_name": outcome.get("name"),
        "time_info": {key: time_info.get(key) for key in ("request", "started", "stopped")},
        "progress": 100,
        "steps": [dict(step) for step in outcome.get("steps") or []],
    }
    if outcome.get("retry"):
        meta["retry"] = outcome["retry"]
    meta["result"] = value
    return meta


class allow_join_result(object):
    """No-op: waiting on child jobs from a job is always allowed here."""

    def __enter__(self):
        return True

    def __exit__(self, exc_type, exc_val, exc_tb):
        return False


class ResultBase(object):
    parent = None

    def _leaves(self):
        raise NotImplementedError


def _fetch(results, timeout=None):
    """Asks the daemon, in one request, about every job behind `results` that has not ended yet:
    waits until they have all ended (timeout None), or for at most `timeout` seconds (0: answers
    at once, never waits). True when every one of them has ended."""
    pending = []
    seen = set()
    for result in results:
        for leaf in result._leaves():
            if leaf._outcome is None and leaf.id not in seen:
                seen.add(leaf.id)
                pending.append(leaf)
    if not pending:
        return True
    outcomes = _backend.get_backend().wait([leaf.id for leaf in pending], timeout=timeout)
    ended = True
    for leaf, outcome in zip(pending, outcomes):
        status = outcome.get("status") or states.PENDING
        if status in states.READY_STATES:
            leaf._outcome = outcome
        else:
            leaf._state = status
            ended = False
    return ended


def _timed_out():
    return TimeoutError("The operation timed out.")


class AsyncResult(ResultBase):
    def __init__(self, id, backend=None, task_name=None, app=None, parent=None, raw=True):
        self.id = str(id)
        self.parent = parent
        self._raw = raw
        self._outcome = None
        self._state = states.PENDING

    @property
    def task_id(self):
        return self.id

    def _leaves(self):
        return [self]

    def _value(self, propagate=True):
        outcome = self._outcome
        if outcome["status"] != states.SUCCESS:
            error = ChildJobError(self.id, outcome["status"], outcome.get("error"))
            if propagate:
                raise error
            return error
        value = outcome.get("result")
        return value if self._raw else wrap_result(self.id, value, outcome)

    def get(self, timeout=None, propagate=True, interval=0.5, no_ack=True, follow_parents=True,
            callback=None, on_message=None, on_interval=None, disable_sync_subtasks=True, **kwargs):
        if not _fetch([self], timeout):
            raise _timed_out()
        if on_message is not None:
            on_message({"task_id": self.id, "status": self._outcome["status"], "result": self._outcome.get("result")})
        value = self._value(propagate)
        if callback is not None:
            callback(self.id, value)
        return value

    wait = get

    def ready(self):
        """Whether the job has ended (SUCCESS, FAILURE or REVOKED); asks the daemon, never waits."""
        return _fetch([self], 0)

    def successful(self):
        return self.ready() and self._outcome["status"] == states.SUCCESS

    def failed(self):
        return self.ready() and self._outcome["status"] in (states.FAILURE, states.REVOKED)

    @property
    def state(self):
        """The job's status now (PENDING, STARTED, RETRY, SUCCESS, FAILURE, REVOKED), never waits.
        An id the daemon does not know reads PENDING, as in Celery."""
        if self._outcome is None:
            try:
                _fetch([self], 0)
            except _backend.ChannelError as error:
                if "does not exist" not in str(error):
                    raise
        return self._outcome["status"] if self._outcome is not None else self._state

    status = state

    @property
    def result(self):
        """The value (or the ChildJobError) once the job has ended; None before."""
        if not self.ready():
            return None
        return self._value(propagate=False)

    info = result

    @property
    def traceback(self):
        return self._outcome.get("error") if self.ready() else None

    @property
    def children(self):
        return []

    def as_tuple(self):
        parent = self.parent
        return (self.id, parent.as_tuple() if parent is not None else None), None

    def as_list(self):
        results = [self.id]
        if self.parent is not None:
            results.extend(self.parent.as_list())
        return results

    def forget(self):
        pass

    def __str__(self):
        return self.id

    def __repr__(self):
        return "<AsyncResult: %s>" % self.id

    def __eq__(self, other):
        if isinstance(other, AsyncResult):
            return other.id == self.id
        if isinstance(other, str):
            return other == self.id
        return NotImplemented

    def __hash__(self):
        return hash(self.id)


class ResultSet(ResultBase):
    def __init__(self, results, app=None, **kwargs):
        self.results = list(results)

    def _leaves(self):
        leaves = []
        for result in self.results:
            leaves.extend(result._leaves())
        return leaves

    def get(self, timeout=None, propagate=True, interval=0.5, callback=None, no_ack=True,
            on_message=None, disable_sync_subtasks=True, on_interval=None, **kwargs):
        if not _fetch([self], timeout):
            raise _timed_out()
        return [r.get(propagate=propagate, on_message=on_message, callback=callback) for r in self.results]

    join = get
    join_native = get

    def ready(self):
        """Whether every job has ended; asks the daemon, never waits."""
        return _fetch([self], 0)

    def successful(self):
        return self.ready() and all(r.successful() for r in self.results)

    def failed(self):
        self.ready()
        return any(r.failed() for r in self.results)

    def completed_count(self):
        self.ready()
        return sum(1 for leaf in self._leaves() if leaf._outcome is not None and leaf._outcome["status"] == states.SUCCESS)

    def waiting(self):
        return not self.ready()

    @property
    def children(self):
        return self.results

    def __iter__(self):
        return iter(self.results)

    def __len__(self):
        return len(self.results)

    def __getitem__(self, index):
        return self.results[index]


class GroupResult(ResultSet):
    """A group's results. Its own id names the group, not a job (as in Celery, it is not a task):
    poll the ids of its members."""

    def __init__(self, id=None, results=None, parent=None, **kwargs):
        super(GroupResult, self).__init__(results or [])
        self.id = str(id) if id is not None else str(uuid.uuid4())
        self.parent = parent

    def as_tuple(self):
        parent = self.parent
        return (self.id, parent.as_tuple() if parent is not None else None), [r.as_tuple() for r in self.results]

    def as_list(self):
        ids = []
        for result in reversed(self.results):
            ids.extend(result.as_list())
        return ids

    def __str__(self):
        return self.id

    def __repr__(self):
        return "<GroupResult: %s [%s]>" % (self.id, ", ".join(r.id for r in self.results))
