"""How `budget.protocol` sets a run's memory budget: fair and AUC budgets, the ledger forecast, the budget table.

The one backbone every method has sits outside the ledger; the ledger budget (ctx.budget_bytes)
is the total memory minus that backbone, so it pays for exemplars and, under `fair` and `auc`,
the extra branches of model-based methods (MEMO, DER).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch

from retain.budget.forecast import forecast
from retain.budget.units import parameter_bytes, parse_budget, raw_image_bytes
from retain.errors import BudgetError, ConfigError
from retain.budget.protocols import (
    MIB,
    BackboneCost,
    ProtocolBudget,
    auc2exemplar,
    budget_points,
    fair2exemplar,
    fair_total_bytes,
    image_equivalents,
    stored_parameters,
)

GROWTH_LABELS = {"backbone": "DER (backbone per task)", "specialized": "MEMO (specialized block per task)", "single": "single backbone"}


def method_growth(method_name: str) -> str:
    """How the method's stored parameters grow: "single", "specialized" (MEMO) or "backbone" (DER)."""
    from retain.methods import get_method_class

    return getattr(get_method_class(method_name), "model_growth", "single")


def backbone_cost(name: str, image_shape: tuple[int, ...], options: dict[str, Any] | None = None) -> BackboneCost:
    """Parameter counts (heads excluded) of backbone `name` for this image shape, split when it can be."""
    hashable = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in sorted((options or {}).items()))
    return _cost(name, tuple(int(s) for s in image_shape), hashable)


@lru_cache(maxsize=64)
def _cost(name: str, image_shape: tuple[int, ...], options: tuple) -> BackboneCost:
    from retain.models import build_backbone, build_split_backbone, count_parameters, is_split_backbone

    channels, height = image_shape[0], image_shape[1]
    kwargs = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options}
    # Building a backbone draws its initial weights: keep the run's global RNG untouched, so a
    # run's numbers never depend on whether this cache was warm.
    with torch.random.fork_rng(devices=[]):
        if is_split_backbone(name):
            split = build_split_backbone(name, channels, height, **kwargs)
            generalized, specialized = count_parameters(split.generalized), count_parameters(split.make_specialized())
            return BackboneCost(name, generalized + specialized, generalized, specialized)
        return BackboneCost(name, count_parameters(build_backbone(name, channels, height, **kwargs)))


def _options_for(config, name: str) -> dict[str, Any]:
    # Backbone options belong to the configured backbone; other backbones use their defaults.
    return dict(config.model.options) if name == config.model.backbone else {}


def resolve_budget(config, image_shape: tuple[int, ...], num_tasks: int) -> ProtocolBudget | None:
    """The run's budget under its protocol; None under `benchmark` without memory.budget."""
    budget = config.budget
    growth = method_growth(config.method_name)
    image_bytes = raw_image_bytes(image_shape)
    if budget.protocol == "benchmark" and config.memory.budget is None:
        return None
    cost = backbone_cost(config.model.backbone, image_shape, config.model.options)
    if budget.protocol == "benchmark":
        ledger_bytes = parse_budget(config.memory.budget, image_bytes)
        return ProtocolBudget("benchmark", growth, cost, num_tasks, image_bytes, ledger_bytes, charges_model=False)
    reference = backbone_cost(budget.reference_backbone, image_shape, _options_for(config, budget.reference_backbone))
    notes = []
    if config.memory.budget is not None:
        notes.append(f"memory.budget={config.memory.budget!r} is not used: budget.protocol={budget.protocol} derives the budget")
    if budget.protocol == "fair":
        total = fair_total_bytes(reference, method_growth(budget.reference_method), num_tasks, budget.reference_exemplars, image_bytes)
        point = None
    else:
        if budget.point is None:
            raise ConfigError(
                "budget.protocol='auc' with budget.point unset runs every budget point as its own run "
                "(retain run does this); to build one run, set budget.point to 1.."
                f"{len(budget.points)}."
            )
        point = auc_points(config, image_shape, num_tasks)[budget.point - 1]
        if growth != "single" and config.model.backbone != point.backbone.name:
            raise ConfigError(
                f"model.backbone={config.model.backbone!r} but budget point {budget.point} gives model-based methods "
                f"the backbone {point.backbone.name!r} (budget.points); set model.backbone={point.backbone.name}."
            )
        total = point.total_bytes
    ledger_bytes = total - parameter_bytes(cost.parameters)
    result = ProtocolBudget(budget.protocol, growth, cost, num_tasks, image_bytes, ledger_bytes, True, point, notes,
                            fixed_exemplars=(budget.exemplars or "fixed") == "fixed")
    if ledger_bytes < 0 or result.exemplar_room(num_tasks) < 0:
        raise BudgetError(
            f"Impossible budget: under budget.protocol={budget.protocol} the total memory is {total:,} bytes, but "
            f"method {config.method_name!r} with {config.model.backbone} stores "
            f"{parameter_bytes(stored_parameters(cost, growth, num_tasks)):,} bytes of parameters after {num_tasks} tasks. "
            "Use a smaller backbone or raise budget.reference_exemplars."
        )
    return result


def memory_budget_bytes(config, image_shape: tuple[int, ...], num_tasks: int) -> int | None:
    """ctx.budget_bytes of a run: the ledger budget its protocol gives (None: no memory)."""
    resolved = resolve_budget(config, image_shape, num_tasks)
    return None if resolved is None else resolved.budget_bytes


def auc_points(config, image_shape: tuple[int, ...], num_tasks: int):
    """The budget points of `budget.points` for this dataset and number of tasks."""
    budget = config.budget
    costs = [backbone_cost(name, image_shape, _options_for(config, name)) for name in budget.points]
    reference = backbone_cost(budget.reference_backbone, image_shape, _options_for(config, budget.reference_backbone))
    return budget_points(costs, reference, num_tasks, budget.reference_exemplars, raw_image_bytes(image_shape))


def describe_forecast(config, resolved: ProtocolBudget | None, seen_per_task: list[int]) -> str:
    """The budget and per-task ledger forecast printed by `retain run --dry-run`."""
    if resolved is None:
        return "budget: no memory (memory.budget is not set and budget.protocol=benchmark)"
    b = config.budget
    lines = [
        f"budget: protocol {resolved.protocol}; total {resolved.total_bytes:,} bytes ({resolved.total_bytes / MIB:.2f} MiB) = "
        f"one {resolved.cost.name} ({resolved.base_model_bytes:,} bytes, "
        f"{image_equivalents(resolved.cost.parameters, resolved.image_bytes):.2f} images) + ledger budget {resolved.budget_bytes:,} bytes",
    ]
    if resolved.protocol == "fair":
        lines.append(f"reference: {b.reference_method} with {b.reference_backbone} and {b.reference_exemplars} exemplars")
    if resolved.protocol != "benchmark":
        lines.append(f"exemplars: {'the same count at every task (budget.exemplars=fixed, MEMO -ms)' if resolved.fixed_exemplars else 'whatever fits after each task (budget.exemplars=fill)'}")
    if resolved.point is not None:
        lines.append(f"budget point {resolved.point.index}: {resolved.point.mib:.2f} MiB, model-based backbone {resolved.point.backbone.name}")
    if not resolved.charges_model and resolved.growth != "single":
        lines.append("extra model bytes are recorded in method_results.model_bytes, not charged (benchmark protocol)")
    lines += [f"note: {n}" for n in resolved.notes]
    if config.memory.codec == "jpeg":
        quality = "chosen by the method" if config.memory.quality == "auto" else str(config.memory.quality)
        header = "one shared header" if config.memory.shared_header else "each with its own header"
        lines.append(
            f"memory rows: JPEG at quality {quality}, {header}; a row costs its encoded bytes, known once the images are "
            f"encoded, so the counts below are raw rows ({resolved.image_bytes:,} bytes each): the fewest that fit"
        )
    rows = forecast(resolved, seen_per_task, config.memory.per_class)
    header = f"{'task':>4} {'classes':>7} {'model bytes':>12} {'extra bytes':>12} {'exemplar room':>14} {'exemplars':>9} {'per class':>9} {'stored':>7}"
    lines.append(header)
    for r in rows:
        lines.append(
            f"{r.task:>4} {r.seen_classes:>7} {r.model_bytes:>12,} {r.extra_bytes:>12,} {r.room_bytes:>14,} "
            f"{r.capacity:>9} {r.per_class:>9} {r.stored:>7}"
        )
    last = rows[-1]
    lines.append(f"exemplars after the last task: {last.capacity} ({last.per_class} per class, {last.stored} stored)")
    return "\n".join(lines)


# ---------------------------------------------------------------------- budget tables without data
def dataset_geometry(config) -> tuple[tuple[int, int, int], int]:
    """(image shape, classes) of the configured dataset, as registered (built-ins) or by loading it."""
    from retain.data import declared_geometry
    from retain.runs.user_data import load_user_dataset

    geometry = declared_geometry(config.data.name, config.data.options)
    side = config.data.image_size
    if geometry is not None:  # a folder source's declared size gives way to data.image_size
        return ((geometry[0][0], side, side) if side else geometry[0]), geometry[1]
    dataset = load_user_dataset(config.data, eval_resize=config.augment.eval_resize)
    return dataset.image_shape, dataset.num_classes


def budget_table(config, image_shape: tuple[int, ...], num_classes: int, tasks: int) -> str:
    """Exemplar counts per kind of method under `fair` and at each `auc` point (`retain budget`)."""
    image_bytes = raw_image_bytes(image_shape)
    b = config.budget
    model = backbone_cost(config.model.backbone, image_shape, config.model.options)
    reference = backbone_cost(b.reference_backbone, image_shape, _options_for(config, b.reference_backbone))
    ref_growth = method_growth(b.reference_method)
    points = auc_points(config, image_shape, tasks)
    fair_total = fair_total_bytes(reference, ref_growth, tasks, b.reference_exemplars, image_bytes)
    lines = [
        f"{config.data.name}: {image_bytes} bytes per image, {tasks} tasks, {num_classes} classes; "
        f"one {reference.name} = {reference.parameters:,} parameters = {image_equivalents(reference.parameters, image_bytes):.2f} images",
        f"fair: everyone gets the memory of {b.reference_method} with {reference.name} and {b.reference_exemplars} exemplars "
        f"= {fair_total:,} bytes ({fair_total / MIB:.2f} MiB)",
    ]
    table = [["", "fair"] + [f"point {p.index}" for p in points]]
    table.append(["total memory (MiB)", f"{fair_total / MIB:.2f}"]
                 + [f"{p.mib:.2f}" + (f" ({p.nominal_mb:g})" if p.nominal_mb else "") for p in points])
    table.append(["model-based backbone", model.name] + [p.backbone.name for p in points])
    for growth in ("backbone", "specialized", "single"):
        if growth == "specialized" and model.specialized == 0:
            continue
        cells = [GROWTH_LABELS[growth], str(fair2exemplar(model, growth, tasks, image_bytes, reference, ref_growth, b.reference_exemplars))]
        cells += [str(auc2exemplar(p, growth, tasks, image_bytes, model)) for p in points]
        table.append(cells)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        lines.append(row[0].ljust(widths[0]) + "".join(f"  {c:>{w}}" for c, w in zip(row[1:], widths[1:])))
    lines.append(f"single-backbone methods keep one {model.name}; exemplar counts are after the last task")
    return "\n".join(lines)


# ---------------------------------------------------------------------- one AUC budget point
def point_config(config, index: int):
    """The config of one `auc` budget point: budget.point set and, for model-based methods, the point's backbone."""
    from retain.runs.config import config_to_dict, validate_config

    tree = config_to_dict(config)
    tree["budget"]["point"] = index
    name = config.budget.points[index - 1]
    if method_growth(config.method_name) != "single" and name != config.model.backbone:
        tree["model"] = {"backbone": name, "options": {}}
    return validate_config(tree)
