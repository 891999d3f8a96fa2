"""The ``acecost`` process: a thin supervisor, the command in a child process.

Model code is user input, and it can end the process it runs in: ``os._exit``,
an ``abort()``, a crash in a native op, an ``atexit`` hook. Whatever exit code
that leaves would be read by CI as a verdict, so the commands that import
models (``analyze``, ``check``, ``sweep``, ``plot``) run in a child process
and this one only watches it. It imports neither click nor jax, installs its
signal handling first, and ends in one of three ways:

* the child said it finished (a ``done CODE`` line on a private pipe, written
  after its output is flushed): its code, whatever the process did after;
* the child ended without saying so: one ``acecost: error:`` line naming the
  exit code or the signal and what the child was doing, exit 2 (exit 3 when
  no model had been touched yet: then it is acecost's own failure);
* Ctrl-C: the child's process group is killed, one line, exit 130.

The child's file descriptor 1 is this process's stderr; the real stdout
reaches it as another descriptor that only ``sys.stdout`` writes to, so what
a model or its subprocesses write to fd 1 cannot land in ``--format json``.
The child leaves with ``os._exit`` once it has reported, so a model's
``atexit`` hook never runs after the verdict.
"""
from __future__ import annotations

import os
import signal
import sys

from acecost.cli.child import done, own_signals, report_to
from acecost.exits import ended, ended_by_model

#: Set in the child: "<stdout fd>,<report fd>".
CHILD_ENV = "ACECOST_CHILD"
#: "0" runs every command in this one process (benchmarks, debugging).
SWITCH_ENV = "ACECOST_SUPERVISE"
#: Commands that import user models.
SUPERVISED = frozenset({"analyze", "check", "sweep", "plot"})
#: Commands tried in this process first: a fully cached sweep runs no model code (:func:`probe_here`).
PROBED = frozenset({"sweep"})
_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
_CHILD_CODE = ("import signal; signal.signal(signal.SIGINT, signal.SIG_IGN); "
               f"signal.pthread_sigmask(signal.SIG_UNBLOCK, [getattr(signal, s) for s in {_SIGNALS}]); "
               "from acecost.cli.supervisor import child; child()")

_state: dict = {"child": None}


def start() -> None:
    """First thing the ``acecost`` console script does: own the signals, then maybe supervise.

    Called as ``acecost.cli`` is imported, before click, rich or jax, so a
    Ctrl-C during those imports is one line too.
    """
    if not _console_script():
        return
    own_signals()
    signal.signal(signal.SIGINT, _on_interrupt)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_terminate)
    argv = sys.argv[1:]
    if os.environ.get(SWITCH_ENV) != "0" and hasattr(os, "killpg") and needs_child(argv):  # POSIX only
        if command(argv) in PROBED and "--no-cache" not in argv:
            probe_here(argv)  # returns only when the command is about to run model code
        sys.exit(supervise(argv))


def _console_script() -> bool:
    main = sys.modules.get("__main__")
    name = os.path.basename(sys.argv[0] if sys.argv else "").removesuffix(".exe")
    return name == "acecost" and getattr(main, "__file__", None) == sys.argv[0] and CHILD_ENV not in os.environ


def command(argv: list[str]) -> str | None:
    """The command's name: the first argument that is not ``--debug``."""
    return next((a for a in argv if a != "--debug"), None)


def needs_child(argv: list[str]) -> bool:
    """A command that imports a model; help and version never do."""
    if any(a in ("-h", "--help", "--version") for a in argv):
        return False
    return command(argv) in SUPERVISED


def probe_here(argv: list[str]) -> None:
    """Run the command in this process until it announces model code (:func:`acecost.cli.child.phase`).

    What it answers without model code (a sweep served from its cache) ends
    the process here with the command's exit code; otherwise nothing has been
    written, and the caller runs the whole command in a child.
    """
    from acecost.cli.child import HandOff, probe

    # the path the child has (``python -P``: not the console script's directory), so a plan keyed
    # by sys.path (a ``pkg.module`` target) is the one the child stored
    script_dir = os.path.dirname(os.path.realpath(sys.argv[0]))
    if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == script_dir:
        del sys.path[0]
    probe()
    try:
        from acecost.cli.group import main

        main.main(args=argv, prog_name="acecost")  # exits with the command's code
    except HandOff:
        probe(False)


# ------------------------------------------------------------------ parent


def _kill_child() -> None:
    child = _state["child"]
    if child is None:
        return
    try:
        os.killpg(child.pid, signal.SIGKILL)  # the child and the sweep workers it started
    except OSError:
        pass
    try:
        os.waitpid(child.pid, 0)
    except OSError:
        pass


def _on_interrupt(signum, frame):
    """Ctrl-C, wherever it lands: nothing of this process is raised into, so nothing can print it."""
    _kill_child()
    os.write(2, b"acecost: error: interrupted\n")
    os._exit(130)


def _on_terminate(signum, frame):
    _kill_child()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def supervise(argv: list[str]) -> int:
    """Run ``acecost ARGV`` in a child process and return the exit code the contract gives it."""
    import subprocess
    import threading

    read_fd, report_fd = os.pipe()
    try:
        out = os.dup(1)
    except OSError:  # no stdout at all: the child has none either
        out = -1
    env = dict(os.environ)
    env[CHILD_ENV] = f"{out},{report_fd}"
    blocked = [getattr(signal, s) for s in _SIGNALS]
    signal.pthread_sigmask(signal.SIG_BLOCK, blocked)  # a child started is a child recorded, to be killed
    try:
        _state["child"] = subprocess.Popen(
            [sys.executable, "-P", "-c", _CHILD_CODE, *argv], env=env, stdout=2 if out >= 0 else None,
            pass_fds=[fd for fd in (out, report_fd) if fd >= 0], process_group=0)
    except OSError as exc:
        os.write(2, f"acecost: error: cannot start the command's process: {exc}\n".encode())
        return 3
    finally:
        os.close(report_fd)
        if out >= 0:
            os.close(out)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, blocked)
    lines: list[str] = []
    reader = threading.Thread(target=_read_lines, args=(read_fd, lines), daemon=True)
    reader.start()
    returncode = _state["child"].wait()
    reader.join(timeout=5.0)  # a process the model forked may hold the pipe open; what was said is in
    done, phase = None, None
    for line in list(lines):
        kind, _, text = line.partition(" ")
        if kind == "done":
            done = int(text)
        elif kind == "phase":
            phase = text
    if done is not None:
        return done
    if phase is None:  # no model code had run: acecost's own failure
        os.write(2, f"acecost: error: internal error: the command's process {ended(returncode)} without "
                    "a result (rerun with --debug for details)\n".encode())
        return 3
    os.write(2, f"acecost: error: {ended_by_model(returncode)} while {phase}\n".encode())
    return 2


def _read_lines(fd: int, lines: list[str]) -> None:
    buf = b""
    with open(fd, "rb", buffering=0) as pipe:
        while True:
            chunk = pipe.read(65536)
            if not chunk:
                break
            buf += chunk
            *complete, buf = buf.split(b"\n")
            lines.extend(c.decode("utf-8", "replace") for c in complete)


# ------------------------------------------------------------------- child


def child() -> None:
    """The supervised side: the command as it would run in one process, then a report and ``os._exit``.

    What the command itself tells the supervisor is in :mod:`acecost.cli.child`.
    """
    out, report_fd = (int(x) for x in os.environ.pop(CHILD_ENV).split(","))
    os.set_inheritable(report_fd, False)
    report_to(report_fd)
    if out >= 0:  # fd 1 is stderr here: only sys.stdout reaches the real stdout
        os.set_inheritable(out, False)
        old = sys.stdout
        sys.stdout = open(out, "w", encoding=old.encoding, errors=old.errors, newline="\n",
                          buffering=1 if os.isatty(out) else -1, closefd=True)
        if old.write_through:
            sys.stdout.reconfigure(write_through=True)
        if os.isatty(out) and not os.isatty(0) and "COLUMNS" not in os.environ:
            try:  # rich and shutil measure fds 0 and 1: fd 1 is no longer the terminal of the table
                size = os.get_terminal_size(out)
            except OSError:
                size = None
            if size is not None and size.columns > 0 and size.lines > 0:  # 0x0: left to the default
                os.environ["COLUMNS"], os.environ["LINES"] = str(size.columns), str(size.lines)
    code = 3
    try:
        from acecost.cli.group import main

        main.main(args=sys.argv[1:], prog_name="acecost")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001 - a closed pipe: the code still stands
                pass
        done(code)
        os._exit(code)
