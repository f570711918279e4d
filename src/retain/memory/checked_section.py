"""The `memory` section checked against this room's policy registry.

The section itself is ground-floor schema (`retain.config.MemoryConfig`, the type of
`RetainConfig.memory`, the one MemoryConfig); only this room knows the registered policies, so a
`CheckedMemorySection` refuses an unknown `policy` at once, and a run checks its section with
`check_policy_name` when it is built (retain.runs.config.validate_config).
"""

from __future__ import annotations

from pydantic import field_validator

from retain.config import MemoryConfig


def check_policy_name(policy: str | None) -> None:
    """Raise the ConfigError of an unknown `memory.policy`, naming the closest registered policy."""
    if policy is not None:
        from retain.memory.policies import build_policy  # the registry sits above this file

        build_policy(policy)


class CheckedMemorySection(MemoryConfig):
    """A `memory` section (MemoryConfig) whose `policy` must name a registered memory policy, checked when it is built."""

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str | None) -> str | None:
        check_policy_name(value)
        return value
