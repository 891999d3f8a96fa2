"""An interrupt Python could not raise (it landed in a gc callback) is delivered again to end
the command; if the command ends first, the re-delivery is cancelled, so it never lands later in
whatever called the command (a test runner's own gc callback reported it as an ignored
KeyboardInterrupt)."""
from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import pytest

from acecost.cli import contract, main


def test_a_redelivery_does_not_outlive_the_command(monkeypatch, capsys):
    fired = []
    monkeypatch.setattr(contract._thread, "interrupt_main", lambda: fired.append("interrupt"))
    monkeypatch.setattr(contract, "signals_handled", lambda: True)  # leave the runner's SIGINT alone

    def run(self, argv, prog_name, extra):
        # Python reports an interrupt it could not raise (a gc callback), then the command returns
        sys.unraisablehook(SimpleNamespace(exc_type=KeyboardInterrupt, exc_value=KeyboardInterrupt(),
                                           exc_traceback=None, err_msg=None, object=None))
        return 0

    monkeypatch.setattr(type(main), "_run", run)
    with pytest.raises(SystemExit) as exit_:
        main.main(["zoo", "list"])
    time.sleep(0.1)  # ten times the re-delivery's delay
    assert exit_.value.code == 130  # the interrupt is still reported, once
    assert capsys.readouterr().err.strip().splitlines() == ["acecost: error: interrupted"]
    assert fired == []
