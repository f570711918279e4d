"""Start one run on several processes: `retain run --nproc N`, or join the group `torchrun` made.

`retain run --nproc N` starts N local processes (torch.multiprocessing: fork on CPU, spawn on
CUDA), each one rank of a torch.distributed group on 127.0.0.1; under `torchrun --nproc-per-node
N -m retain run ...` each process joins the group torchrun describes in its environment. Either
way every rank runs the same `run`/`resume_run`; engine/collectives.py has the collectives and
docs/distributed.md the design.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from retain.console import LOGGER, Reporter
from retain.engine import collectives
from retain.errors import ConfigError, RetainError
from retain.runs.config import RetainConfig, config_to_dict, read_yaml, validate_config

if TYPE_CHECKING:
    from retain.runs.loop import ReportWriter

# After one rank stops, how long the others get to notice (their collective fails) and exit on their own.
_GRACE_SECONDS = 20.0


class DistributedRunFailed(RetainError):
    """A rank of a `--nproc` run stopped with an error or was killed."""


def with_nproc(config: RetainConfig, nproc: int) -> RetainConfig:
    """`config` with distributed.nproc = nproc (refused when the config already names another number)."""
    if config.distributed.nproc == nproc:
        return config
    tree = config_to_dict(config)
    tree["distributed"] = {**tree.get("distributed", {}), "nproc": nproc}
    return validate_config(tree)


def torchrun_world() -> int | None:
    """The world size when this process was started by torchrun (WORLD_SIZE > 1) and has not joined yet."""
    world = collectives.env_world_size()
    return world if world > 1 and collectives.current() is None else None


def check_torchrun_config(config: RetainConfig, world: int) -> RetainConfig:
    """Under torchrun the world size is the number of processes; a config naming another is refused."""
    if config.distributed.nproc not in (1, world):
        raise ConfigError(
            f"distributed.nproc = {config.distributed.nproc} but torchrun started {world} processes "
            f"(WORLD_SIZE={world}); leave distributed.nproc out (or set it to {world}) under torchrun."
        )
    return with_nproc(config, world)


def joined(config: RetainConfig):
    """The context of this process's membership in the group torchrun (or a --nproc parent) set up."""
    device = collectives.rank_device(config.device)
    return collectives.process_group(config.distributed.backend, device, config.distributed.timeout_s)


def check_before_start(config: RetainConfig) -> None:
    """What can be refused before any process starts: SyncBatchNorm without CUDA."""
    collectives.check_sync_batchnorm(config.distributed.sync_batchnorm, config.device, collectives.rank_device(config.device))


def saved_nproc(run_dir: Path) -> int:
    """distributed.nproc of the run in `run_dir` (1 when it has none or no readable config)."""
    try:
        tree = read_yaml(run_dir / "config.yaml")
    except (OSError, RetainError):
        return 1
    section = tree.get("distributed") if isinstance(tree, dict) else None
    value = section.get("nproc", 1) if isinstance(section, dict) else 1
    return value if isinstance(value, int) and value >= 1 else 1


# ---------------------------------------------------------------------- local processes
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, job: dict[str, Any]) -> None:
    """One rank: join the group, run (or resume), exit 0; a RetainError is printed by the rank it
    happened on (rank 0 for errors every rank sees) and exits 2."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    code = 0
    try:
        config = validate_config(job["config"]) if job["config"] is not None else None  # loads plugins (spawn)
        setting = config if config is not None else validate_config(read_yaml(Path(job["resume"]) / "config.yaml"))
        if setting.train.threads is None:  # share the cores instead of every rank taking all of them
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        reporter = Reporter(quiet=job["quiet"] or rank != 0)
        with joined(setting):
            if job["resume"] is not None:
                from retain.runs.loop import resume_run

                resume_run(job["resume"], config, reporter=reporter, report_writer=job["report_writer"])
            elif config.budget.protocol == "auc" and config.budget.point is None:
                from retain.runs.budget_points import run_budget_sweep

                run_budget_sweep(config, out=job["out"], reporter=reporter, report_writer=job["report_writer"])
            else:
                from retain.runs.loop import run

                run(config, out=job["out"], reporter=reporter, report_writer=job["report_writer"])
    except RetainError as exc:
        echo = isinstance(exc, collectives.DistributedError) and str(exc).startswith("rank ")
        if rank == 0 or not echo:
            print(f"error: [rank {rank}] {exc}", file=sys.stderr, flush=True)
        code = 2
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    os._exit(code)  # no atexit handlers of the parent's (forked) state


def spawn(nproc: int, config: RetainConfig | None, out: Path | None, resume: Path | None, quiet: bool,
          device: str, timeout_s: float, report_writer: ReportWriter | None = None) -> Path:
    """Start `nproc` local ranks of one run (or resume) and wait for them; returns the run directory.

    When a rank stops, the others are given a short grace (their next collective fails, or times
    out) and then terminated; the run directory keeps its last checkpoint. Rank 0 writes the end-of-run
    report with `report_writer` (a module-level function: spawned ranks receive it pickled by name)."""
    import multiprocessing

    cuda = device in ("auto", "cuda") and torch.cuda.is_available() or device.startswith("cuda")
    # fork starts a rank in milliseconds; CUDA cannot be forked, so GPU ranks are spawned.
    context = multiprocessing.get_context("spawn" if cuda or "fork" not in multiprocessing.get_all_start_methods() else "fork")
    run_dir = resume if resume is not None else out
    job = {"config": None if config is None else config_to_dict(config), "out": None if out is None else str(out),
           "resume": None if resume is None else str(resume), "quiet": quiet, "report_writer": report_writer}
    port = _free_port()
    processes = [context.Process(target=_worker, args=(rank, nproc, port, job), daemon=False) for rank in range(nproc)]
    LOGGER.info(f"training on {nproc} processes ({'NCCL, one GPU each' if cuda else 'gloo on the CPU'}; docs/distributed.md)")
    for p in processes:
        p.start()
    failed: list[tuple[int, int]] = []
    deadline = None
    try:
        while any(p.is_alive() for p in processes):
            for rank, p in enumerate(processes):
                if not p.is_alive() and p.exitcode not in (0, None) and (rank, p.exitcode) not in failed:
                    failed.append((rank, p.exitcode))
                    deadline = deadline or time.monotonic() + min(_GRACE_SECONDS, timeout_s)
            if deadline is not None and time.monotonic() > deadline:
                for p in processes:
                    if p.is_alive():
                        p.terminate()
                break
            time.sleep(0.05)
    except KeyboardInterrupt:
        for p in processes:
            if p.is_alive():
                os.kill(p.pid, signal.SIGINT)
        for p in processes:
            p.join(10)
        raise
    for p in processes:
        p.join()
    for rank, p in enumerate(processes):
        if p.exitcode not in (0, None) and all(rank != r for r, _ in failed):
            failed.append((rank, p.exitcode))
    if failed:
        if any(code == 130 for _, code in failed) and all(code in (130, -signal.SIGTERM) for _, code in failed):
            raise KeyboardInterrupt
        # A rank killed by a signal is the cause; the ranks that then lost their peer exited with code 2.
        failed.sort(key=lambda item: (item[1] >= 0, item[0]))
        hows = [f"rank {rank} of {nproc} " + (f"was killed by signal {signal.Signals(-code).name}" if code < 0
                                              else f"exited with code {code}") for rank, code in failed]
        where = f"retain run --resume {run_dir} --nproc {nproc}" if run_dir is not None else "a new run"
        raise DistributedRunFailed(
            f"{', '.join(hows)}; the run stopped (errors printed above). The run directory keeps its last "
            f"checkpoint; continue with: {where}"
        )
    return run_dir
