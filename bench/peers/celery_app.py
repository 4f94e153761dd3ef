"""The Celery app bench/peers.ts runs its peers with (workers and client import it).

Broker and result backend: the Redis at BENCH_REDIS_URL. BENCH_ACKS_LATE=1 sets task_acks_late and
BENCH_PREFETCH the worker's prefetch multiplier (Celery's default is 4), for the original product's
worker shape. Two tasks:

- bench.child: a job in its own process, as the scheduler runs one: a Python child (`python -c
  pass`, the worker's own interpreter), waited for;
- bench.noop: nothing, in the pool process itself.
"""
import os
import subprocess
import sys

from celery import Celery

BROKER = os.environ["BENCH_REDIS_URL"]

app = Celery("bench_peers", broker=BROKER, backend=BROKER)
app.conf.update(
    task_acks_late=os.environ.get("BENCH_ACKS_LATE") == "1",
    worker_prefetch_multiplier=int(os.environ.get("BENCH_PREFETCH", "4")),
)


@app.task(name="bench.child")
def child():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


@app.task(name="bench.noop")
def noop():
    return None
