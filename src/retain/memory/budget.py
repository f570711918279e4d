"""Memory budgets in bytes (parsing lives with the configuration, which checks budgets as they are written)."""

from retain.config.units import ACCEPTED_FORMS, parse_budget, raw_image_bytes

__all__ = ["ACCEPTED_FORMS", "parse_budget", "raw_image_bytes"]
