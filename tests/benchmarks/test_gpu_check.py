"""The GPU check's CPU rehearsal: `python -m benchmarks gpu --device cpu --quick` runs end to end.

It is what the next GPU loan starts with, in one call, so it must not rot between loans: every
check runs here at tiny sizes on the CPU, the report is written, the CPU-against-CPU comparisons
pass bit for bit (the same computation repeated), and a wrong matrix — one device matrix
perturbed through the test-only `--perturb-matrix` — is reported as a failure with a non-zero
exit code, so the comparison is shown to be able to fail.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root holds benchmarks/

from benchmarks.__main__ import main as benchmarks_main  # noqa: E402
from benchmarks.gpu.main import CHECKS  # noqa: E402
from benchmarks.gpu.report import STATUSES  # noqa: E402

PERTURBATION = 7.5  # points added to one entry of MRDC's device matrix; the tolerance is 5


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory) -> tuple[int, dict, str, Path]:
    """One quick CPU run (its default deadline, 1200 s, allows for a loaded machine); MRDC's matrix perturbed."""
    out = tmp_path_factory.mktemp("gpu-check")
    code = benchmarks_main(["gpu", "--device", "cpu", "--quick", "--out", str(out), "--perturb-matrix", f"mrdc={PERTURBATION}"])
    return code, json.loads((out / "gpu.json").read_text()), (out / "gpu.md").read_text(), out


def _check(payload: dict, key: str, title_part: str) -> dict:
    found = [c for c in payload["checks"] if c["key"] == key and title_part in c["title"]]
    assert len(found) == 1, [c["title"] for c in payload["checks"]]
    return found[0]


def test_report_files_and_every_check_has_a_status(rehearsal):
    code, payload, markdown, out = rehearsal
    assert payload["finished"] and payload["settings"]["quick"] and payload["settings"]["device"] == "cpu"
    assert payload["settings"]["deadline_s"] == 1200
    assert {c["key"] for c in payload["checks"]} == {key for key, *_ in CHECKS}
    for check in payload["checks"]:
        assert check["status"] in STATUSES, check
        assert f"| {check['key']} {check['title']} | {check['status']} |" in markdown
    env = payload["environment"]
    assert env["torch"] and env["cpu_count"] >= 1 and env["gpu_count"] == 0
    assert f"torch {env['torch']}" in markdown and "wall time" in markdown


def test_cpu_against_cpu_matrix_is_identical(rehearsal):
    check = _check(rehearsal[1], "a", "icarl: cpu matrix")
    assert check["status"] == "pass", check
    assert check["details"]["device_matrix"] == check["details"]["cpu_matrix"]
    assert check["figure"].startswith("max |Δ| = 0.00 points")


def test_resume_is_bit_exact_at_a_task_boundary_and_mid_epoch(rehearsal):
    payload = rehearsal[1]
    assert _check(payload, "a", "icarl: repeatable")["status"] == "pass"
    boundary = _check(payload, "a", "icarl: resume at a task boundary")
    middle = _check(payload, "a", "icarl: resume mid-epoch")
    assert boundary["status"] == "pass" and middle["status"] == "pass", (boundary, middle)
    assert boundary["details"]["killed_at"]["completed_tasks"] >= 1
    assert middle["details"]["killed_at"]["kind"] == "epoch"
    assert middle["details"]["killed_at"]["completed_tasks"] == payload["settings"]["sizes"]["tasks"] - 1
    assert middle["details"]["resumes"], "results.json records the resumes"


def test_a_wrong_matrix_is_reported_as_failed(rehearsal):
    code, payload, markdown, out = rehearsal
    check = _check(payload, "a", "mrdc: cpu matrix")
    assert check["status"] == "fail" and check["details"]["perturbed_by"] == PERTURBATION
    assert check["figure"].startswith(f"max |Δ| = {PERTURBATION:.2f} points")
    assert code == 1 and not payload["passed"] and "1 check(s) failed" in markdown
    assert (out / "work").is_dir(), "a failed check keeps its runs for the post-mortem"


def test_the_other_checks_ran(rehearsal):
    payload = rehearsal[1]
    assert _check(payload, "b", "bf16")["status"] == "pass"
    two = _check(payload, "c", "--nproc 2")
    assert two["status"] == "pass" and two["details"]["distributed"]["state_repairs"] == 0
    assert _check(payload, "d", "host syncs")["status"] == "pass"
    assert _check(payload, "d", "step loop vs bare")["table"][0]["step loop img/s"] > 0
    assert _check(payload, "d", "torch.compile")["table"][0]["outcome"] == "ok"  # the eager backend in the rehearsal
    assert _check(payload, "e", "projected")["tolerance"].startswith("goal < 10 min")
    decode = _check(payload, "f", "encoded")  # the encoded path exists now: its benchmark runs, measured not judged
    assert decode["status"] == "info" and decode["table"] and "data.storage" in " ".join(decode["details"]["settings"])


def test_nothing_starts_after_the_deadline(tmp_path):
    code = benchmarks_main(["gpu", "--device", "cpu", "--quick", "--out", str(tmp_path), "--deadline-s", "0"])
    payload = json.loads((tmp_path / "gpu.json").read_text())
    assert code == 0 and [c["status"] for c in payload["checks"]] == ["skipped"] * len(CHECKS)
    assert all("deadline" in c["reason"] for c in payload["checks"])


def test_a_gpu_run_without_a_visible_gpu_leaves_a_report_saying_so(tmp_path):
    code = benchmarks_main(["gpu", "--device", "cuda", "--out", str(tmp_path)])
    payload = json.loads((tmp_path / "gpu.json").read_text())
    assert code == 2 and [c["status"] for c in payload["checks"]] == ["fail"]
    assert "sees no CUDA device" in payload["checks"][0]["reason"]
