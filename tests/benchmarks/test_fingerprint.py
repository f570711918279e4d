"""The behaviour fingerprint (benchmarks/fingerprint.py): a case's hash depends on what the run
learned and nothing else, so equal files before and after a change mean unchanged behaviour."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root holds benchmarks/

from benchmarks.fake_datasets import write_dataset  # noqa: E402
from benchmarks.fingerprint import Case, cases, differences, main, run_cases  # noqa: E402
from retain.data.cifar import load_cifar  # noqa: E402
from retain.data.base import LoadRequest  # noqa: E402
from retain.data.mnist import load_mnist_like  # noqa: E402

PRESETS = Path(__file__).resolve().parents[2] / "src" / "retain" / "scenarios" / "presets"


def _case(name: str) -> Case:
    return next(case for case in cases() if case.name == name)


def test_a_case_hashes_the_same_alone_and_after_another_case():
    finetune, replay = _case("method:finetune"), _case("method:replay")
    alone = run_cases([finetune], log=lambda line: None)
    after = run_cases([replay, finetune], log=lambda line: None)
    assert alone["method:finetune"] == after["method:finetune"]
    assert after["method:replay"]["case"] != after["method:finetune"]["case"]


def test_another_learning_rate_changes_the_network_and_the_hash():
    finetune = _case("method:finetune")
    other = dataclasses.replace(finetune, name="method:finetune", overrides={**finetune.overrides, "train__lr": 0.01})
    before = run_cases([finetune], log=lambda line: None)
    after = run_cases([other], log=lambda line: None)
    assert before["method:finetune"]["network"] != after["method:finetune"]["network"]
    assert differences(before, after) and "network" in differences(before, after)[0]
    assert differences(before, before) == []


def test_every_preset_and_every_by_method_method_is_a_case():
    from benchmarks.fingerprint import ROWS_PER_CLASS

    names = {case.name for case in cases()}
    for path in PRESETS.glob("*.yaml"):
        preset = path.stem
        dataset = yaml.safe_load(path.read_text()).get("data", {}).get("name")
        if dataset not in (*ROWS_PER_CLASS, "digits", None):
            assert dataset in ("imagenet", "tiny-imagenet"), dataset  # only ImageNet-scale data is left out
            continue
        assert f"preset:{preset}" in names
        for method in yaml.safe_load(path.read_text()).get("by_method", {}):
            assert f"preset:{preset}+{method}" in names
    assert {"method:icarl", "method:memo", "method:rainbow", "method:il2m"} <= names


def test_generated_datasets_load_through_retains_readers(tmp_path):
    write_dataset("cifar100", tmp_path / "c100", 3, 1)
    write_dataset("cifar10", tmp_path / "c10", 3, 1)
    write_dataset("fashion-mnist", tmp_path / "fm", 3, 1)
    c100 = load_cifar(LoadRequest(name="cifar100", data_dir=tmp_path / "c100", download=False))
    c10 = load_cifar(LoadRequest(name="cifar10", data_dir=tmp_path / "c10", download=False))
    fm = load_mnist_like(LoadRequest(name="fashion-mnist", data_dir=tmp_path / "fm", download=False))
    assert len(c100.class_names) == 100 and len(c10.class_names) == 10
    for dataset, classes in ((c100, 100), (c10, 10), (fm, 10)):
        labels = np.asarray(dataset.train.labels)
        assert sorted(np.bincount(labels, minlength=classes)) == [3] * classes


def test_compare_exits_1_on_a_changed_hash(tmp_path, capsys):
    out = tmp_path / "fp.json"
    assert main(["--only", "method:finetune", "--out", str(out)]) == 0
    assert main(["--only", "method:finetune", "--compare", str(out)]) == 0
    out.write_text(out.read_text().replace('"case": "', '"case": "0'))
    assert main(["--only", "method:finetune", "--compare", str(out)]) == 1
    assert "method:finetune" in capsys.readouterr().out
