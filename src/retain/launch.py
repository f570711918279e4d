"""Start what a config asks for: one run, or under budget.protocol=auc without budget.point, the AUC sweep.

`retain run`, `retain.run` and the cells of `retain sweep` come through here; `runs.loop.run` is one
run only. With distributed.nproc > 1 the run is started on that many local processes, and under
`torchrun` this process joins the group torchrun made (runs/processes.py). This is the floor that
sees both the run loop and the reports, so it hands every run the writer of its end-of-run report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retain.config import RetainConfig
from retain.console import Reporter
from retain.runs import processes
from retain.runs.budget_points import run_budget_sweep
from retain.runs.directory import check_same_nproc
from retain.runs.loop import check_run_dir, default_run_dir, run
from retain.runs.results import read_run_results
from retain.runs.spec import check_trains_something
from retain.runs.time_forecast import StepProbe


def write_report_lazily(run_dir: Path, figures: bool) -> Path:
    """The end-of-run report (`retain.reports.report.write_report`), imported when a run ends: the
    report's imports are not paid at start-up."""
    from retain.reports.report import write_report

    return write_report(run_dir, figures=figures)


def launch(config: RetainConfig, out: str | Path | None = None, dry_run: bool = False,
           reporter: Reporter | None = None, probe: StepProbe | None = None) -> dict[str, Any]:
    """Run `config` (or sweep its AUC budget points) and return the results (or the AUC summary);
    `probe` says how a dry run measures the training step for its time forecast."""
    world = processes.torchrun_world()
    if world is not None:  # started by torchrun: join its group, then run as one of its ranks
        config = processes.check_torchrun_config(config, world)
        with processes.joined(config):
            return launch(config, out=out, dry_run=dry_run, reporter=reporter, probe=probe)
    if config.distributed.nproc > 1 and processes.collectives.current() is None and not dry_run:
        run_dir = Path(out) if out else default_run_dir(config)
        check_run_dir(run_dir)  # before any process starts
        check_trains_something(config)
        processes.check_before_start(config)
        quiet = reporter.quiet if reporter is not None else True
        processes.spawn(config.distributed.nproc, config, run_dir, None, quiet, config.device, config.distributed.timeout_s,
                        report_writer=write_report_lazily)
        return read_run_results(run_dir) or {}
    if config.budget.protocol == "auc" and config.budget.point is None:
        return run_budget_sweep(config, out=out, dry_run=dry_run, reporter=reporter or Reporter(quiet=True), probe=probe,
                                report_writer=write_report_lazily)
    return run(config, out=out, dry_run=dry_run, reporter=reporter, probe=probe, report_writer=write_report_lazily)


def resume(run_dir: str | Path, config: RetainConfig | None = None, reporter: Reporter | None = None,
           nproc: int | None = None) -> dict[str, Any]:
    """Continue the run in `run_dir` on as many processes as it started with (`nproc`, when given, must be that number)."""
    from retain.runs.loop import resume_run

    run_dir = Path(run_dir)
    started = processes.saved_nproc(run_dir)
    world = processes.torchrun_world()
    asked = world if world is not None else (nproc if nproc is not None else started)
    check_same_nproc(run_dir, started, asked)
    if world is not None:
        from retain.runs.config import read_yaml, validate_config

        with processes.joined(validate_config(read_yaml(run_dir / "config.yaml"))):
            return resume_run(run_dir, config, reporter=reporter, report_writer=write_report_lazily)
    if started > 1 and processes.collectives.current() is None:
        quiet = reporter.quiet if reporter is not None else True
        from retain.runs.config import read_yaml, validate_config

        saved = validate_config(read_yaml(run_dir / "config.yaml"))
        if config is not None:  # refused once, here, rather than by every rank after it started
            from retain.runs.checkpoint import check_same_config
            from retain.runs.config import config_to_dict

            check_same_config(config_to_dict(saved), config_to_dict(config), "The configuration given with --resume", run_dir)
        processes.spawn(started, config, None, run_dir, quiet, saved.device, saved.distributed.timeout_s, report_writer=write_report_lazily)
        return read_run_results(run_dir) or {}
    return resume_run(run_dir, config, reporter=reporter, report_writer=write_report_lazily)
