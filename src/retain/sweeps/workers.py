"""Local sweep workers: fresh interpreters that run the cells a driver sends them.

A worker is `python -c <boot> ...` running `serve`: it reads one cell (a JSON line) at a time on
stdin, runs it with `run_cell` and answers with the outcome (a JSON line) on its own copy of
stdout; whatever the cell prints goes to stderr. A fresh interpreter started this way never
imports the driver's `__main__`, so `retain.sweep(...)` at the top level of a plain script
works (multiprocessing's spawn start method re-runs the script in every worker, which then
started a sweep of its own). A worker gets the driver's `sys.path`, as spawn gave it.

A worker dies with its driver: on Linux the kernel kills it when the driver dies
(PR_SET_PDEATHSIG, kill -9 included), elsewhere it watches its parent; it ignores Ctrl-C,
which the driver handles by killing its workers. A worker that dies fails only the cell it was
running; the next cell gets a new worker.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

_BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
         "from retain.sweeps.workers import serve; from retain.sweeps.sweep import run_cell; "
         "serve(int(sys.argv[2]), run_cell)")


def serve(driver_pid: int, run_cell: Callable[[dict[str, Any], int], dict[str, Any]]) -> None:
    """A worker's loop: a cell per line on stdin, `run_cell`'s outcome per line on the original stdout."""
    _die_with(driver_pid)
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # prints of the cell (and of C code) go to stderr, never into the answers
    for line in sys.stdin:
        request = json.loads(line)
        outcome = run_cell(request["cell"], request["threads"])
        answers.write(json.dumps(outcome) + "\n")


def _die_with(driver_pid: int) -> None:
    """Die with the driver, and leave Ctrl-C to the driver (which stops us)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    else:  # no parent-death signal: poll for the parent instead
        threading.Thread(target=_watch_parent, args=(driver_pid,), daemon=True).start()
    if os.getppid() != driver_pid:  # the driver died before the signal was armed
        os._exit(1)


def _watch_parent(driver_pid: int) -> None:
    while os.getppid() == driver_pid:
        time.sleep(0.5)
    os._exit(1)


def start_worker() -> subprocess.Popen:
    """One worker process, with the driver's sys.path."""
    command = [sys.executable, "-c", _BOOT, json.dumps([p for p in sys.path if isinstance(p, str)]), str(os.getpid())]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)


class WorkerPool:
    """`workers` worker processes sharing a queue of cells; `run` yields outcomes as cells end."""

    def __init__(self, workers: int, threads: int) -> None:
        self.workers, self.threads = workers, threads
        self.processes: list[subprocess.Popen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def run(self, payloads: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Run every cell; on an exception, Ctrl-C or the generator's close, the workers are killed."""
        todo: queue.Queue = queue.Queue()
        for payload in payloads:
            todo.put(payload)
        done: queue.Queue = queue.Queue()
        slots = [threading.Thread(target=self._slot, args=(todo, done), daemon=True)
                 for _ in range(min(self.workers, len(payloads)))]
        for slot in slots:
            slot.start()
        try:
            for _ in payloads:
                while True:
                    try:
                        yield done.get(timeout=0.5)
                        break
                    except queue.Empty:
                        continue
        finally:
            self.stop()
            for slot in slots:
                slot.join(timeout=10)

    def _slot(self, todo: queue.Queue, done: queue.Queue) -> None:
        """One worker's thread in the driver: send a cell, wait for its outcome, next cell."""
        process = None
        while not self._stopping.is_set():
            try:
                payload = todo.get_nowait()
            except queue.Empty:
                break
            if process is None:
                process = self._start()
                if process is None:
                    return
            answer = ""
            try:
                process.stdin.write(json.dumps({"cell": payload, "threads": self.threads}) + "\n")
                process.stdin.flush()
                answer = process.stdout.readline()
            except (OSError, ValueError):  # the pipe broke: the worker died
                pass
            if self._stopping.is_set():
                return
            if answer:
                done.put(json.loads(answer))
                continue
            code = process.wait()
            done.put({"cell": payload["name"], "event": "failed", "mode": "unknown", "seconds": 0.0,
                      "error": f"the worker process died (exit code {code}); run the sweep again to resume this cell"})
            process = None
        if process is not None:
            process.stdin.close()  # the worker's loop ends: it exits
            process.wait()

    def _start(self) -> subprocess.Popen | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            process = start_worker()
            self.processes.append(process)
            return process

    def stop(self) -> None:
        """Kill the workers and reap them (cells in flight resume on the next run)."""
        with self._lock:
            self._stopping.set()
            for process in self.processes:
                if process.poll() is None:
                    process.kill()
            for process in self.processes:
                process.wait(timeout=10)
