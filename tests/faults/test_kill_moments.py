"""kill -9 at each named moment of a run (RETAIN_FAULT), then `--resume`: the same accuracy matrix
as a run never killed, no temporary file left, and the report there at the end."""

from __future__ import annotations

import signal

import pytest

from fault_runs import leftovers, one_thread, results, retain, small_args
from retain.launch import resume as resume_run  # as `retain run --resume`: a missing report written again

# Three moments in the default suite (one inside training, one inside a file write, one after the
# results), the other three with -m slow.
MOMENTS = [
    "mid-epoch@2", "checkpoint-write@2", "report",
    pytest.param("start-up", marks=pytest.mark.slow),
    pytest.param("memory-update@2", marks=pytest.mark.slow),
    pytest.param("evaluation@2", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("moment", MOMENTS)
def test_kill_at_a_moment_then_resume_gives_the_same_matrix(moment, reference, tmp_path):
    out = tmp_path / "run"
    report = ["logging.report=true"] if moment == "report" else []
    killed = retain("run", *small_args(*report), "--out", str(out), RETAIN_FAULT=moment)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    if moment == "checkpoint-write@2":
        assert leftovers(out), "the kill should have left a half-written checkpoint behind"
    if moment == "report":
        assert results(out)["complete"] and (out / "runs.csv").is_file() and not (out / "report.md").exists()

    with one_thread():
        resumed = resume_run(out)
    assert resumed["complete"]
    after = results(out)
    assert after["accuracy_matrix"] == reference["accuracy_matrix"]
    assert after["accuracy"] == reference["accuracy"]
    assert leftovers(out) == []
    if moment == "report":
        assert "# retain report" in (out / "report.md").read_text()
    elif moment != "start-up":
        assert len(after["resumes"]) == 1
