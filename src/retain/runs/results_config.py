"""config.yaml checked against the config results.json records (`retain run --resume`, `retain report`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from retain.errors import CheckpointError
from retain.runs.config import RetainConfig, config_to_dict


def check_results_config(run_dir: Path, saved: RetainConfig, previous: dict[str, Any] | None) -> None:
    """config.yaml must describe the run results.json holds (a hand edit of either is refused)."""
    from retain.runs.checkpoint import config_differences, with_resolved_method

    recorded = previous.get("config") if isinstance(previous, dict) else None
    if not isinstance(recorded, dict):
        return
    differences = config_differences(config_to_dict(saved), with_resolved_method(recorded), neutral=False)  # config.yaml's value first
    if differences:
        raise CheckpointError(
            f"{str(run_dir / 'config.yaml')!r} does not describe the run {str(run_dir / 'results.json')!r} records "
            f"({'; '.join(differences[:3])}); one of them was edited. Restore config.yaml (results.json holds the "
            "config that ran), or start a new run in another --out. Nothing was changed."
        )
