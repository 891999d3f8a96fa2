"""Where points run: this process, a local process pool, or a Dask cluster.

Every executor takes the tasks left after the cache and yields each
result as it completes. Local workers are started with ``spawn`` (jax is
multithreaded; forking it is unsafe), import the model once each, and this
process keeps pricing points beside them.
"""
from __future__ import annotations

import collections
import multiprocessing
import multiprocessing.connection as mpc
import os
import pickle
import socket
import threading
from typing import Iterator
from urllib.parse import urlparse

from acecost.errors import AcecostError
from acecost.exits import ended_by_model
from acecost.sweeps import worker
from acecost.sweeps.model import ModelSpec


#: About what a spawned worker costs before its first point (importing jax, flax and the model)
#: on a small machine: less work than this left is priced here rather than spread.
STARTUP_SECONDS = 3.0
#: Points a local worker holds at once: the next one is there when it finishes.
PREFETCH = 2
#: ...and once points take less than CHEAP_SECONDS (re-priced ones: about a millisecond), this many,
#: so that a worker is not kept waiting on a round trip per point
CHEAP_SECONDS, CHEAP_PREFETCH = 0.02, 32
#: A space of this many points starts its workers at once, while this process imports the model.
EAGER_POINTS = 32
#: The most local processes: each imports jax (about a second of CPU and a few hundred MB).
MAX_JOBS = 1024


class InProcess:
    """Price every point here, one after another."""

    name = "in-process"

    def run(self, spec: ModelSpec, tasks: list[worker.Task]) -> Iterator[dict]:
        for task in tasks:
            yield worker.price(spec, task)

    def close(self) -> None:
        pass


class LocalPool:
    """``jobs - 1`` spawned worker processes plus this one (``here``), or ``jobs`` workers alone.

    This process prices the first points alone; workers start once the
    points left would take longer here than :data:`STARTUP_SECONDS`, so a
    space of a few cheap points never pays for starting processes. With
    ``here=False`` (the command line) no point is priced in this process: a
    point that ends or kills its process (``os._exit``, ``abort()``, a crash
    in a native op) is then an error row, and the other rows are kept.
    """

    def __init__(self, jobs: int, here: bool = True):
        self.jobs, self.here = jobs, here
        self.name = f"{jobs} processes" if here or jobs > 1 else "1 process"
        self.procs: list[_Worker] = []

    def _workers(self, points: int) -> int:
        return min(self.jobs - 1, points - 1) if self.here else min(self.jobs, points)

    def prestart(self, spec: ModelSpec, points: int, cached: bool = False, graphs: int | None = None) -> None:
        """Start the workers now when the space is large enough to be worth them whatever a point costs
        (no more than its ``graphs`` need: a graph's points are re-priced from one trace); without
        ``here``, one worker for a space the cache cannot answer (it imports jax meanwhile)."""
        if not points or not _picklable(spec):
            return
        if points >= EAGER_POINTS:
            wanted = self._workers(points) if graphs is None else min(self._workers(points), graphs - self.here)
            self.procs = [_Worker(spec) for _ in range(wanted)]
        elif not self.here and not cached:
            self.procs = [_Worker(spec)]

    def run(self, spec: ModelSpec, tasks: list[worker.Task]) -> Iterator[dict]:
        pending = collections.deque(tasks)
        here = self.here or not _picklable(spec)
        # a process per graph at most: the points of one graph are re-priced from one trace
        graphs = worker.graph_count(tasks)
        workers = min(self._workers(len(tasks)), graphs - here) if _picklable(spec) else 0
        times: list[float] = []
        # price here until the work left is worth starting processes for
        while here and pending and not self.procs and (min(workers, len(pending) - 1) < 1 or not times
                                                       or min(times[-3:]) * len(pending) < STARTUP_SECONDS):
            result = worker.price(spec, pending.popleft())
            times.append(result["seconds"])
            yield result
        if not pending:
            return
        if here:
            procs = self.procs = self.procs or [_Worker(spec) for _ in range(min(self._workers(len(pending)),
                                                                                 workers))]
        else:  # one worker, more once the points left are worth their start-up (as above)
            procs = self.procs = self.procs or [_Worker(spec)]
        wanted = min(self._workers(len(tasks)), graphs - here)
        try:
            while pending or any(w.tasks for w in procs):
                for i, w in enumerate(procs):  # collect results; keep each ready worker PREFETCH points deep
                    for result in w.poll():
                        if result["report"] is not None:  # what a point costs, from those that were priced
                            times.append(result["seconds"])
                        yield result
                    if w.dead and w.startup_death:  # it would die again: every point left says why
                        while pending:
                            yield {"index": pending.popleft().index, "report": None, "seconds": 0.0,
                                   "error": w.startup_death}
                        w.startup_death = None
                    if w.dead:  # what it held but had not begun goes back; a fresh worker takes over
                        pending.extend(w.requeue)
                        w.requeue = []
                        if w.proc is not None:
                            w.stop()
                        if pending:
                            procs[i] = _Worker(spec)
                        continue
                    depth = CHEAP_PREFETCH if len(times) >= 3 and max(times[-3:]) < CHEAP_SECONDS else PREFETCH
                    while w.ready and pending and len(w.tasks) < depth:
                        w.send(pending.pop())
                if not here and pending and len(procs) < wanted and times \
                        and min(times[-3:]) * len(pending) >= STARTUP_SECONDS:
                    procs.append(_Worker(spec))
                if pending and here:  # this process takes points from the front, the workers from the back
                    yield worker.price(spec, pending.popleft())
                elif any(w.tasks for w in procs) or pending:
                    mpc.wait([w.conn for w in procs if not w.dead], timeout=1.0)
        finally:
            self.close()

    def close(self) -> None:
        for w in self.procs:
            w.stop()
        self.procs = []


def _picklable(spec: ModelSpec) -> bool:
    """A function defined inside another cannot reach a worker: it is then priced here."""
    try:
        pickle.dumps(spec)
    except Exception:  # noqa: BLE001 - pickle raises several kinds
        return False
    return True


class _Worker:
    """One spawned process: says when it is ready, then prices the points it is sent, in order.

    Points are sent only once it is ready, so none waits behind a worker
    still importing jax; it holds up to PREFETCH of them so it never idles
    while this process is busy with a point of its own.
    """

    def __init__(self, spec: ModelSpec):
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=worker.serve, args=(child, spec), daemon=True)
        self.proc.start()
        child.close()
        self.ready = False
        self.dead = False
        self.tasks: dict[int, worker.Task] = {}
        self.requeue: list[worker.Task] = []
        self.startup_death: str | None = None

    def send(self, task: worker.Task) -> None:
        self.tasks[task.index] = task
        self.conn.send(task)

    def poll(self) -> list[dict]:
        """The results that have arrived. A worker that died was pricing its oldest point (they are
        priced in order): that one is an error row, the others it held go to :attr:`requeue`."""
        out = []
        if self.dead:
            return out
        try:
            while self.conn.poll():
                message = self.conn.recv()
                if message == "ready":
                    self.ready = True
                else:
                    self.tasks.pop(message["index"], None)
                    out.append(message)
        except (EOFError, OSError):
            self.ready, self.dead = False, True
            self.proc.join(timeout=5.0)
            held = list(self.tasks.values())
            self.tasks.clear()
            code = self.proc.exitcode if self.proc.exitcode is not None else -9
            if held:
                out.append({"index": held[0].index, "report": None, "seconds": 0.0,
                            "error": f"{ended_by_model(code, 'its worker process')} pricing this point"})
                self.requeue = held[1:]
            else:  # before its first point: importing the model, which a fresh worker would do again
                self.startup_death = f"{ended_by_model(code, 'a worker process')} before pricing a point"
        return out

    def stop(self) -> None:
        """End it now: it holds nothing to save (results and the cache live here), and a
        process that has imported jax takes about a second to exit politely."""
        if self.proc is None:
            return
        self.proc.terminate()
        self.proc.join()
        self.conn.close()
        self.proc = None


class DaskCluster:
    """Hand the points to an existing Dask scheduler; each worker imports the model once."""

    def __init__(self, address: str, timeout: float = 5.0):
        host, port = dask_address(address)
        try:
            import distributed
        except ImportError:
            raise AcecostError("--executor dask:// needs the Dask client: pip install 'acecost[dask]'") from None
        self.address = address
        try:
            socket.create_connection((host, port), timeout=timeout).close()  # refused: say so now
        except (OSError, TimeoutError) as exc:
            raise AcecostError(f"cannot reach the Dask scheduler at {address}: {_first_line(exc)}") from None
        self.client = _client(distributed, f"tcp://{host}:{port}", address, timeout)
        self.name = f"Dask at {address}"

    def run(self, spec: ModelSpec, tasks: list[worker.Task]) -> Iterator[dict]:
        import distributed

        shipped = spec.shipped()
        futures = [self.client.submit(worker.price, shipped, t, pure=False) for t in tasks]
        index = {f.key: t.index for f, t in zip(futures, tasks)}
        try:
            for f in distributed.as_completed(futures, loop=self.client.loop):
                try:
                    yield f.result()
                except Exception as exc:  # noqa: BLE001 - a worker lost, a task that could not run
                    yield {"index": index[f.key], "report": None, "seconds": 0.0,
                           "error": f"the Dask task failed: {type(exc).__name__}: {str(exc).strip()[:200]}"}
        finally:
            for f in futures:
                f.release()

    def close(self) -> None:
        self.client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _client(distributed, url: str, address: str, timeout: float):
    """A Client of the scheduler at ``url``, or one error line within about ``timeout`` seconds.

    The Client's own timeout bounds the connection, not the handshake: a server
    that accepts and then says nothing (or says something that is not Dask's
    protocol) would hold it for ever or fail inside distributed. So the Client is
    made in a daemon thread that this one waits for.
    """
    box: dict = {}

    def connect() -> None:
        try:
            box["client"] = distributed.Client(url, timeout=timeout, set_as_default=False)
        except BaseException as exc:  # noqa: BLE001 - whatever a wrong server makes distributed raise
            box["error"] = exc

    thread = threading.Thread(target=connect, name="acecost-dask-connect", daemon=True)
    thread.start()
    thread.join(timeout + 2.0)
    if thread.is_alive():
        raise AcecostError(f"no Dask scheduler answered at {address} within {timeout:g} s "
                           "(is a Dask scheduler listening there?)")
    if "error" in box:
        raise AcecostError(f"cannot use the Dask scheduler at {address}: {_first_line(box['error'])}")
    return box["client"]


def dask_address(address: str) -> tuple[str, int]:
    """HOST and PORT of ``dask://HOST:PORT``; a malformed address is one error line, before any work."""
    bad = f"bad executor address {address!r}: expected dask://HOST:PORT"
    try:
        url = urlparse(address)
        host, port = url.hostname, url.port
    except ValueError as exc:  # a port out of range or not a number, an unclosed [IPv6 bracket
        raise AcecostError(f"{bad} ({exc})") from None
    if not host or not port:
        raise AcecostError(bad)
    return host, port


def make_executor(executor: str | None, jobs: int | None, isolated: bool = False):
    """The executor named by ``--executor`` (default: local, ``--jobs`` processes).

    ``isolated``: no point is priced in this process (see :class:`LocalPool`).
    """
    if jobs is not None and (isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1):
        raise AcecostError(f"--jobs must be a positive integer, got {jobs!r}")
    if jobs is not None and jobs > MAX_JOBS:
        raise AcecostError(f"--jobs {jobs} is more processes than a sweep starts (at most {MAX_JOBS}; "
                           f"this machine has {os.cpu_count() or 1} CPUs)")
    if executor is not None and not isinstance(executor, str):
        raise AcecostError(f"executor must be 'local' or 'dask://HOST:PORT', got {executor!r}")
    if executor in (None, "", "local"):
        jobs = jobs or os.cpu_count() or 1
        if isolated:
            return LocalPool(jobs, here=False)
        return InProcess() if jobs == 1 else LocalPool(jobs)
    scheme = executor.partition("://")[0].lower() if "://" in executor else ""
    if scheme in ("dask", "tcp"):
        return DaskCluster(executor)
    raise AcecostError(f"unknown executor {executor!r}: use 'local' or dask://HOST:PORT")
