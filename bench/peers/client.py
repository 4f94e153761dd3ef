"""The client of bench/peers.ts: submits jobs to the Celery peer with .delay() and waits for their
results, then prints one JSON line.

    BENCH_REDIS_URL=redis://127.0.0.1:PORT/0 python3 client.py --task child --jobs 200 --latency 30

- latency: `--latency` single jobs on an idle worker, 50 ms apart, after 3 warm-up jobs: the
  milliseconds from .delay() to .get() returning (the result pushed by the Redis backend);
- throughput: `--jobs` jobs submitted with .delay() one after the other, then every result waited
  for; jobs/s from the first .delay() to the last result.
"""
import argparse
import json
import time

from celery_app import child, noop

parser = argparse.ArgumentParser()
parser.add_argument("--task", choices=["child", "noop"], required=True)
parser.add_argument("--jobs", type=int, default=200)
parser.add_argument("--latency", type=int, default=30)
args = parser.parse_args()
task = {"child": child, "noop": noop}[args.task]
TIMEOUT = 300

for _ in range(3):  # warm-up: the broker connection, the result subscription, the worker's imports
    task.delay().get(timeout=TIMEOUT)

latency_ms = []
for _ in range(args.latency):
    time.sleep(0.05)  # idle between jobs
    started = time.perf_counter()
    task.delay().get(timeout=TIMEOUT)
    latency_ms.append((time.perf_counter() - started) * 1000)

started = time.perf_counter()
results = [task.delay() for _ in range(args.jobs)]
submitted = time.perf_counter()
for result in results:
    result.get(timeout=TIMEOUT)
ended = time.perf_counter()

print(
    json.dumps(
        {
            "latencyMs": latency_ms,
            "jobsPerS": args.jobs / (ended - started),
            "submitPerS": args.jobs / (submitted - started),
        }
    )
)
