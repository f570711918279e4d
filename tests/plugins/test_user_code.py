"""A user's own method code failing: one paragraph naming the plugin file and function, the user's
frames only, the finished tasks kept and the resume command; a predict of the wrong shape is refused."""

from __future__ import annotations

import json
import textwrap

import pytest
from typer.testing import CliRunner

from retain.cli import app

PLUGIN = """
    from retain import Method, register_method
    from retain.methods.base import Prediction


    def check(value):
        raise ValueError("my own bug")


    @register_method("{name}")
    class Broken(Method):
        '''Fine-tuning that fails in {hook} of task 2.'''

        def before_task(self, task):
            super().before_task(task)
            self.task_now = task.index

        def training_loss(self, batch):
            if "{hook}" == "training_loss" and self.task_now == 1:
                check(batch)
            return super().training_loss(batch)

        def after_task(self, task):
            super().after_task(task)
            if "{hook}" == "after_task" and task.index == 1:
                check(task)

        def predict(self, images):
            prediction = super().predict(images)
            if "{hook}" == "predict":
                return Prediction(logits=prediction.logits[:, :1], features=prediction.features, scores=prediction.scores)
            return prediction
"""


def _run(tmp_path, hook: str):
    plugin = tmp_path / f"broken_{hook}.py"
    plugin.write_text(textwrap.dedent(PLUGIN.format(name=f"broken-{hook}", hook=hook)))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--preset", "demo", "-q", "--import", str(plugin), "--set", f"method.name=broken-{hook}",
                                      "--set", "scenario.num_tasks=3", "--set", "train.epochs=1", "--set", "logging.report=false", "--set", "memory.budget=null",
                                      "--set", "logging.tensorboard=false", "--out", str(out)])
    return result, plugin, out


@pytest.mark.parametrize("hook", ["training_loss", "after_task"])
def test_a_method_raising_in_its_own_code_names_the_file_and_function_and_keeps_finished_tasks(tmp_path, hook):
    result, plugin, out = _run(tmp_path, hook)
    assert result.exit_code == 2, result.output
    text = result.output
    assert "Traceback (most recent call last)" not in text
    assert "ValueError: my own bug" in text and str(plugin) in text and f"{hook}()" in text
    assert "check" in text and "site-packages" not in text and "retain/experiment" not in text
    assert f"retain run --resume {out}" in " ".join(text.split())
    assert json.loads((out / "results.json").read_text())["completed_tasks"] == 1  # task 1 is kept


def test_a_predict_of_the_wrong_shape_stops_the_run_naming_the_method(tmp_path):
    result, plugin, out = _run(tmp_path, "predict")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "'broken-predict'" in text and "predict" in text and "shape (" in text and ", 1)" in text
    assert f"retain run --resume {out}" in text
    assert not (out / "results.json").exists()  # no accuracy of a garbage matrix was recorded


LOSS_PLUGIN = """
    import torch.nn.functional as F
    from retain import Method, register_method


    @register_method("{name}")
    class BadLoss(Method):
        '''Fine-tuning whose training_loss returns {what}.'''

        def training_loss(self, batch):
            logits = self.network(batch.images)["logits"]
            loss = F.cross_entropy(logits, batch.labels, reduction="none")
            return {expr}
"""


@pytest.mark.parametrize("what,expr,shown", [
    ("a per-sample vector", "loss", "a tensor of shape ("),
    ("a Python float", "float(loss.mean())", "a float ("),
    ("a detached scalar", "loss.mean().detach()", "does not require grad"),
])
def test_a_training_loss_that_is_not_a_scalar_with_grad_stops_naming_the_method(tmp_path, what, expr, shown):
    name = "bad-loss-" + what.split()[-1]  # one registered name per case (one process)
    plugin = tmp_path / f"badloss_{what.split()[-1].replace('-', '_')}.py"
    plugin.write_text(textwrap.dedent(LOSS_PLUGIN.format(name=name, what=what, expr=expr)))
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["run", "--preset", "demo", "-q", "--import", str(plugin), "--set", f"method.name={name}",
                                      "--set", "scenario.num_tasks=2", "--set", "train.epochs=1", "--set", "memory.budget=null",
                                      "--set", "logging.report=false", "--out", str(out)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "Traceback" not in text
    assert f"'{name}'" in text and "training_loss" in text and shown in text
    assert "0-dim tensor with grad" in text and f"retain run --resume {out}" in text
