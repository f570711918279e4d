"""The generated bad inputs (tests/faults/generated_cases.py): each refused clearly, before anything is written."""

from __future__ import annotations

import pytest

from generated_cases import GENERATED, data_cases, schema_cases
from retain.errors import RetainError
from retain.runs.config import build_config

SCHEMA_CASES = schema_cases()


@pytest.mark.parametrize("case", SCHEMA_CASES, ids=[case.id for case in SCHEMA_CASES])
def test_every_field_refuses_its_bad_values_and_settings_without_effect(case):
    try:
        config = build_config(preset="demo", overrides=list(case.sets))
    except RetainError as exc:
        text = " ".join(str(exc).split())
        verdict = "clear" if all(needle in text for needle in case.needles) else "unclear"
    except Exception as exc:  # noqa: BLE001 - any other exception is a traceback for the user
        verdict, text = "traceback", f"{type(exc).__name__}: {exc}"
    else:
        notes = " ".join(getattr(config, "_notes", []))
        verdict = "clear" if case.needles[-1] == "" and case.needles[0] in notes else "silent-wrong"
        text = f"accepted; notes: {notes!r}"
    GENERATED[verdict] += 1
    assert verdict == "clear", f"{verdict}: {case.sets}: {text}"


def test_every_field_of_the_schema_has_generated_cases():
    fields = {case.id.split(":")[0] for case in SCHEMA_CASES}
    from retain.config.activity import schema_fields

    assert fields == set(schema_fields())


DATA_CASES = data_cases()


@pytest.mark.parametrize("case", DATA_CASES, ids=[case.id for case in DATA_CASES])
def test_every_dataset_kind_refuses_its_corruptions_naming_class_file_and_count(case, tmp_path, monkeypatch):
    from retain.runs.loop import run

    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "data"
    case.build(folder)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    increment = 1 if case.dataset == "imagefolder" else 2
    sets = [f"data.name={case.dataset}", f"data.dir={folder}", f"scenario.increment={increment}"]
    if case.dataset != "imagefolder":  # imagefolder reads no data.download: setting it is refused
        sets += ["data.download=false"]
    sets += list(case.sets)
    try:
        run(build_config(preset="demo", overrides=sets), out=tmp_path / "run")
    except RetainError as exc:
        text = " ".join(str(exc).split())
        verdict = "clear" if all(needle in text for needle in case.needles) else "unclear"
    except Exception as exc:  # noqa: BLE001
        verdict, text = "traceback", f"{type(exc).__name__}: {exc}"
    else:
        verdict, text = "silent-wrong", "the run trained on it"
    if sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) != before:
        verdict = "silent-wrong" if verdict == "clear" else verdict  # something was written
    GENERATED[verdict] += 1
    assert verdict == "clear", f"{verdict}: {text}"


def _run_dir_cases():
    """The edit classes over the files of a run stopped before its first task ended, of one stopped in
    its second task and of a complete run of the bad-input workspace (the ids name the file)."""
    from fault_workspace import SMALL  # noqa: F401  (the runs the workspace builds)

    return ["started", "partial", "done"]


def _tree(root):
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".retain.lock"}


@pytest.mark.parametrize("which", _run_dir_cases())
def test_every_file_of_a_run_directory_edited_by_hand_is_refused_or_detected(which, workspace, tmp_path):
    import shutil

    from typer.testing import CliRunner

    from generated_cases import run_dir_edits
    from retain.cli import app

    source = workspace / which
    failures = []
    for case_id, name, edit, needles in run_dir_edits(source, complete=which == "done"):
        target = tmp_path / case_id.replace("/", "_").replace(":", "_")
        shutil.copytree(source, target)
        edit(target / name)
        before = _tree(target)
        argv = ["report", str(target)] if case_id.startswith("report") else ["run", "--resume", str(target), "-q"]
        result = CliRunner().invoke(app, argv)
        text = " ".join(result.output.split())
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            verdict = "traceback"
        elif result.exit_code == 0:
            verdict = "silent-wrong"
        elif _tree(target) != before:
            verdict = "silent-wrong"  # refused, but something was written
        else:
            verdict = "clear" if all(needle in text for needle in needles) else "unclear"
        GENERATED[verdict] += 1
        if verdict != "clear":
            failures.append(f"{case_id}: {verdict}: exit {result.exit_code}: {text[-400:]}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("target", ["started", "partial", "done"])
def test_a_report_written_into_another_runs_directory_is_refused(target, workspace, tmp_path):
    """`retain report A --out B` with B another run (or a sweep) replaced B's own report.md, runs.csv and plots."""
    import shutil

    from typer.testing import CliRunner

    from retain.cli import app

    source, other = tmp_path / "source", tmp_path / "other"
    shutil.copytree(workspace / "done", source)
    shutil.copytree(workspace / target, other)
    before = _tree(other)
    result = CliRunner().invoke(app, ["report", str(source), "--out", str(other)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "another run's or sweep's directory" in text and "config.yaml" in text, text
    assert _tree(other) == before
    assert CliRunner().invoke(app, ["report", str(source), "--out", str(tmp_path / "new")]).exit_code == 0
