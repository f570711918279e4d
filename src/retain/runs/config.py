"""Building a run's configuration: presets ← YAML file ← --set overrides, then names checked against the registries.

The schema itself (pydantic models, YAML and override helpers) is ground floor: `retain.config`.
This module adds what needs the rooms above it: the shipped presets and the method and memory
policy registries. Its old names are re-exported so `retain.runs.config` still offers
everything it did.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from retain.config import (  # noqa: F401  (re-exported: the old home of the schema)
    AugmentConfig,
    BudgetConfig,
    CheckpointConfig,
    DataConfig,
    EvalConfig,
    LoggingConfig,
    MemoryConfig,
    ModelConfig,
    RetainConfig,
    ScenarioConfig,
    TrainConfig,
    apply_override,
    config_to_dict,
    deep_merge,
    parse_config,
    parse_override,
    read_yaml,
    validation_message,
)
from retain.config.options import check_options
from retain.config.tree import unknown_key_text
from retain.errors import ConfigError, RetainError, unknown_name
from retain.plugins import anchor_imports, load_plugins
from retain.presets import apply_method_values, load_preset
from retain.runs.dataset_settings import check_dataset_settings


def build_config(
    config_path: str | Path | None = None,
    preset: str | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
    imports: list[str] | None = None,
) -> RetainConfig:
    """Resolve preset ← config file ← --set overrides ← --seed into a validated config.

    `imports` (`--import`) are added to the config's own `imports`; file paths in the config
    file are relative to that file, those given here to the current directory. A setting the
    user chose that the run would not read is refused (retain.config.activity); where each value
    came from is kept on the config (`config_sources`).
    """
    file_tree = read_config_file(config_path) if config_path else {}
    parsed = _parsed_overrides(overrides or [])
    preset_field = "--preset"
    if ["preset"] in [path for path, _ in parsed]:  # `--set preset=X` chooses the preset, like --preset X
        chosen = next(value for path, value in parsed if path == ["preset"])
        if preset is not None and chosen != preset:
            raise ConfigError(f"--preset {preset} and --set preset={chosen} name two presets; a run has one: keep one.")
        if preset is None:
            preset, preset_field = chosen, "--set preset"
    check_one_preset(file_tree, preset, config_path)
    sources: dict[str, str] = {}
    user: dict[str, Any] = {}
    if config_path:
        _note_sources(sources, user, file_tree, f"file {config_path}")
    tree = merge_preset(file_tree, preset, where=f"preset: in {config_path}", preset_field=preset_field)
    if preset:
        sources["preset"] = "--preset"
    for path, value in parsed:
        apply_override(tree, path, value)
        _note_sources(sources, user, _nested(path, value), "--set")
    if seed is not None:
        tree["seed"] = seed
        _note_sources(sources, user, {"seed": seed}, "--seed")
    if imports:
        tree["imports"] = add_imports(tree.get("imports"), imports)
        _note_sources(sources, user, {"imports": imports}, "--import")
    check_not_given_twice(user)
    try:
        config = validate_config(apply_method_values(tree))
    except ConfigError as exc:
        raise ConfigError(str(exc) + _preset_blame(str(exc), user, tree.get("preset"))) from None
    preset_tree = load_preset(config.preset) if config.preset else {}
    check_settings_take_effect(config, user, preset_tree)
    check_dataset_settings(config, user)
    config._sources = config_sources(config, sources, preset_tree)
    return config


def _parsed_overrides(overrides: list[str]) -> list[tuple[list[str], Any]]:
    """The --set overrides parsed, in order (a later one for the same key wins; the CLI refuses that)."""
    return [parse_override(text) for text in overrides]


def check_not_given_twice(user_tree: dict[str, Any]) -> None:
    """Refuse a setting the user wrote under its old home and its new one (memory.maer_policy and
    method.maer_policy): the schema moves the old one over, and which should win would be a guess."""
    from retain.config.schema import MOVED_TO_METHOD

    memory, method = user_tree.get("memory"), user_tree.get("method")
    if not isinstance(memory, dict) or not isinstance(method, dict):
        return
    for name in MOVED_TO_METHOD:
        if name in memory and name in method:
            raise ConfigError(f"memory.{name}={memory[name]!r} (its old spelling) and method.{name}={method[name]!r} set one "
                              f"setting twice; keep method.{name}. Nothing was run or written.")


def _preset_blame(message: str, user_tree: dict[str, Any], preset: Any) -> str:
    """Words for an error about a value the user did not write: the preset's values it names."""
    from retain.config.activity import ACTIVITY, value_at

    if not isinstance(preset, str):
        return ""
    preset_tree, chosen = apply_method_values({**load_preset(preset), "preset": preset}), set(leaf_fields(user_tree))
    message = re.sub(r"\(did you mean [^)]*\)", "", message)  # a suggested spelling is not a value in question
    blamed = [field for field in ACTIVITY if "." in field and field not in chosen and value_at(preset_tree, field) is not None
              and re.search(rf"(?<![\w.]){re.escape(field)}(?![\w])", message)]
    return "".join(f" ({field}={value_at(preset_tree, field)!r} is the preset {preset}'s, not a value you wrote: set "
                   f"{field} yourself when you change what it belongs to.)" for field in blamed)


def check_one_preset(file_tree: dict[str, Any], preset: str | None, config_path: str | Path | None) -> None:
    """A config file naming `preset: A` run with `--preset B` is refused: which one trains would be a guess."""
    named = file_tree.get("preset")
    if preset and named and named != preset:
        raise ConfigError(
            f"The config file {str(config_path)!r} names preset: {named} and --preset {preset} was given; a run has "
            f"one preset. Drop --preset to run {named}, or change (or remove) `preset:` in the file to run {preset}."
        )


def _nested(path: list[str], value: Any) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    apply_override(tree, path, value)
    return tree


def leaf_fields(tree: Any, prefix: str = "") -> list[str]:
    """The schema fields (dotted) that a config tree sets: its leaves, mapped to the field they fall under."""
    from retain.config.activity import METHOD_ACTIVITY, field_path

    path = prefix.rstrip(".")
    if path == "method" and isinstance(tree, dict):  # free-form, but some parameters depend on others
        return [path] + [f"method.{key}" for key in tree if f"method.{key}" in METHOD_ACTIVITY]
    if isinstance(tree, dict) and tree and path not in FREE_FORM_FIELDS:
        return [field for key, value in tree.items() for field in leaf_fields(value, f"{prefix}{key}.")]
    return [field_path(path) or path] if path else []


FREE_FORM_FIELDS = ("method", "model.options", "data.options")  # set as a whole


def _note_sources(sources: dict[str, str], user: dict[str, Any], tree: dict[str, Any], source: str) -> None:
    for field in leaf_fields(tree):
        sources[field] = source
    user.update(deep_merge(user, tree))


def config_sources(config: RetainConfig, user_sources: dict[str, str], preset_tree: dict[str, Any]) -> dict[str, str]:
    """Where every field that is not at its schema default came from: the user's layer (file,
    --set, --seed, --import), else the preset, else "resolved" (filled in by retain: a method's
    default parameters, channels_last)."""
    from retain.config.activity import ACTIVITY, value_at

    dumped, default = config_to_dict(config), config_to_dict(RetainConfig())
    preset_fields = set(leaf_fields(preset_tree))
    sources = {}
    for field in ACTIVITY:
        if field in user_sources:
            sources[field] = user_sources[field]
        elif field in preset_fields:
            sources[field] = f"preset {config.preset}"
        elif value_at(dumped, field) != value_at(default, field):
            sources[field] = "resolved"
    return sources


def check_settings_take_effect(config: RetainConfig, user_tree: dict[str, Any], preset_tree: dict[str, Any],
                               where: str = "") -> None:
    """Refuse the settings the user chose (their value differs from the preset's or the default) that
    the resolved run would not read; the ones whose rule only warns become notes on the config."""
    from retain.config.activity import inactive_settings, unreachable_settings, value_at

    dumped = config_to_dict(config)
    baseline = _preset_baseline(config, preset_tree)
    chosen = {field for field in leaf_fields(user_tree) if value_at(dumped, field) != value_at(baseline, field)}
    found = inactive_settings(config, chosen) + unreachable_settings(config, chosen)
    errors = [item.text() for item in found if item.severity == "error"]
    if errors:
        raise ConfigError(f"{where}Settings that would take no effect: " + "; ".join(errors) + ". Nothing was run or written.")
    config._notes = [item.text() for item in found if item.severity != "error"]


def _method_baseline(config: RetainConfig, preset_tree: dict[str, Any]) -> dict[str, Any]:
    """The method parameters nobody chose: the method's defaults, under the preset's own values for
    that method. A config.yaml written from a run lists them all; read back, they are not the user's."""
    from retain.methods import get_method_class

    try:
        defaults = get_method_class(config.method_name).Params().model_dump(mode="json")
    except (RetainError, ValueError, TypeError):  # an unknown method, or one whose Params need values
        defaults = {}
    preset_method = preset_tree.get("method")
    own = preset_method if isinstance(preset_method, dict) and preset_method.get("name") == config.method_name else {}
    return {**defaults, **own, "name": config.method_name}


def _preset_baseline(config: RetainConfig, preset_tree: dict[str, Any]) -> dict[str, Any]:
    """The values the preset alone gives this run's method, its `by_method` values and the method's
    parameters at their defaults included: a config.yaml written from a run holds those, and reading
    it back must not count them as the user's."""
    tree = {k: v for k, v in preset_tree.items() if k != "method"}
    method = config_to_dict(config).get("method") or {}
    if config.preset and isinstance(method.get("name"), str):
        tree = apply_method_values({**tree, "preset": config.preset, "method": {"name": method["name"]}})
        tree.pop("method", None)
    try:
        baseline = config_to_dict(parse_config(tree))
    except ConfigError:
        baseline = config_to_dict(RetainConfig())
    return {**baseline, "method": _method_baseline(config, preset_tree)}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A config file's tree, with the file paths of its `imports` made absolute (relative to the file)."""
    tree = read_yaml(path)
    if "imports" in tree:
        tree["imports"] = anchor_imports(tree["imports"], Path(path).resolve().parent)
    return tree


def add_imports(existing: Any, extra: list[str]) -> Any:
    """The config's `imports` followed by `extra` (relative paths against the current directory), without repeats."""
    if existing is not None and not isinstance(existing, list):
        return existing  # the schema refuses it with the field's name
    combined = list(existing or [])
    for entry in anchor_imports(list(extra), Path.cwd()):
        if entry not in combined:
            combined.append(entry)
    return combined


def merge_preset(file_tree: dict[str, Any], preset: str | None = None, where: str = "preset",
                 preset_field: str = "--preset") -> dict[str, Any]:
    """The named preset (`preset`, given as `preset_field`, else the tree's own `preset:` key, given
    at `where`) with `file_tree` merged over it."""
    tree: dict[str, Any] = {}
    preset_name = preset or file_tree.get("preset")
    if preset_name:
        tree = load_preset(preset_name, field=preset_field if preset else where)
        tree["preset"] = preset_name
    return deep_merge(tree, file_tree)


def validate_config(tree: dict[str, Any]) -> RetainConfig:
    """Validate a config mapping: the schema, then its plugins are loaded, then the names and
    parameters only the registries know are checked."""
    if isinstance(tree, dict) and "imports" in tree:
        tree = {**tree, "imports": anchor_imports(tree["imports"], Path.cwd())}
    config = parse_config(tree)
    load_plugins(config.imports)
    current_method_names(config)
    check_registered_names(config)
    return resolve_method_params(config)


def current_method_names(config: RetainConfig) -> None:
    """Former method names (`er-mixed`) replaced by today's (`er_mixed`), with a warning, so the
    run, its config.yaml and its results use today's name."""
    from retain.methods.base import canonical_method_name

    config.method["name"] = canonical_method_name(config.method_name)
    config.budget.reference_method = canonical_method_name(config.budget.reference_method)


def resolve_method_params(config: RetainConfig) -> RetainConfig:
    """The config with every parameter of its method written out (defaults included), so that
    config.yaml says which temperature or λ a run used even when the user left them unset."""
    from retain.methods import get_method_class

    params = method_params(config, get_method_class(config.method_name))
    config.method = {"name": config.method_name, **params.model_dump(mode="json")}
    return config


def check_registered_names(config: RetainConfig) -> None:
    """The method's name and parameters, the memory policy, the dataset, the backbones and what the
    method can use, checked against the registries (so `--dry-run` refuses what a run would refuse later)."""
    from retain.data import dataset_entry
    from retain.engine.device import check_device_name
    from retain.memory.checked_section import check_policy_name
    from retain.methods import get_method_class
    from retain.models.registry import backbone_builder

    check_policy_name(config.memory.policy)
    check_device_name(config.device)
    method_cls = get_method_class(config.method_name)
    method_params(config, method_cls)
    method_cls.check_setting(config)
    check_backbones(config, method_cls)
    check_options("Backbone", config.model.backbone, backbone_builder(config.model.backbone), config.model.options, "model.options")
    entry = dataset_entry(config.data.name)
    check_options("Dataset", entry.name, entry.loader, config.data.options, "data.options")
    if config.memory.quality == "auto" and config.memory.codec == "jpeg" and not getattr(method_cls, "chooses_quality", False):
        # (under codec raw the quality is not read: retain.config.activity)
        raise ConfigError(
            f"memory.quality='auto' lets the method choose the JPEG quality, but method.name={config.method_name!r} "
            "does not choose one (only mrdc does). Set memory.quality to a number in 1..100, or use method.name=mrdc."
        )


def _growth(method_cls: type) -> str:
    return getattr(method_cls, "model_growth", "single")


def check_backbones(config: RetainConfig, method_cls: type) -> None:
    """Every backbone name in the config is known, under its own field, and MEMO-like methods
    (a specialized block per task) get a backbone they can split."""
    from retain.methods import get_method_class, method_names
    from retain.models import check_backbone_name, is_split_backbone, split_backbone_names

    budget = config.budget
    for field, name in [("model.backbone", config.model.backbone), ("budget.reference_backbone", budget.reference_backbone),
                        *(("budget.points", point) for point in budget.points)]:
        check_backbone_name(name, field)
    if budget.reference_method not in method_names():
        raise unknown_name("method", budget.reference_method, method_names(), field="budget.reference_method")
    splits = [(config.method_name, _growth(method_cls), "model.backbone", [config.model.backbone])]
    splits.append((budget.reference_method, _growth(get_method_class(budget.reference_method)),
                   "budget.reference_backbone", [budget.reference_backbone]))
    if budget.protocol == "auc" and _growth(method_cls) != "single":
        splits.append((config.method_name, _growth(method_cls), "budget.points", list(budget.points)))
    for method, growth, field, names in splits:
        unsplittable = [name for name in names if not is_split_backbone(name)]
        if growth == "specialized" and unsplittable:
            raise ConfigError(
                f"{field}={unsplittable[0]!r} cannot be split into a generalized part and specialized blocks, which "
                f"{method} adds one of per task. Backbones MEMO and DER can split: {', '.join(split_backbone_names())} "
                "(DER copies the whole backbone and takes any).",
            )


def ignored_settings(config: RetainConfig) -> list[str]:
    """Settings the configured method has no use for: memory.* that the user set (their value is
    not the preset's, nor the default) on a method that keeps no memory. A preset's own budget is
    not the user's: `--set method.name=finetune` in a preset with a budget says nothing."""
    from retain.methods import get_method_class

    notes = list(config._notes)
    method_cls = get_method_class(config.method_name)
    if method_cls.uses_memory or not method_cls.__module__.startswith("retain.methods."):
        return notes  # a user's method may keep state the ledger charges (methods/charges.py)
    ours = config_to_dict(config)["memory"]
    baseline = (_preset_baseline(config, load_preset(config.preset)) if config.preset
                else config_to_dict(RetainConfig()))["memory"]
    changed = [f"memory.{name}={getattr(config.memory, name)!r}" for name in MemoryConfig.model_fields
               if ours.get(name) != baseline.get(name)]
    if not changed:
        return notes
    return notes + [f"method.name={config.method_name!r} keeps no memory, so {', '.join(changed)} "
            f"{'is' if len(changed) == 1 else 'are'} ignored (no exemplars are stored)"]


def method_params(config: RetainConfig, method_cls: type) -> Any:
    """The method's validated `Params`; a ConfigError names the offending `method.` fields."""
    foreign = [key for key in config.method_params if key not in method_cls.Params.model_fields]
    if foreign and foreign != ["variant"]:
        raise ConfigError(_foreign_params(config.method_name, method_cls, foreign))
    variant = config.method_params.get("variant")
    if variant is not None and "variant" not in method_cls.Params.model_fields:
        from retain.methods import method_registry

        having = sorted(n for n, m in method_registry().items() if "variant" in m.Params.model_fields)
        raise ConfigError(
            f"method.variant={variant!r} does not apply to method.name={config.method_name!r}: it has a single "
            f"version. method.variant picks between the paper's version (paper, the default) and the one Rainbow "
            f"Memory's code ran (rm-code) for: {', '.join(having)}. Remove method.variant."
        )
    try:
        return method_cls.Params.model_validate(config.method_params)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, method_cls.Params, prefix="method.")) from None


def _foreign_params(name: str, method_cls: type, foreign: list[str]) -> str:
    """Parameters under `method:` that the named method lacks, and whose they are: a config written
    for another method (a run's config.yaml, a preset) keeps that method's parameters."""
    from retain.methods import method_registry

    owners = sorted(n for n, m in method_registry().items() if all(k in m.Params.model_fields for k in foreign))
    allowed = list(method_cls.Params.model_fields)
    named = "; ".join(unknown_key_text(f"method.{key}", allowed) for key in foreign)
    known = ", ".join(f"method.{k}" for k in allowed) or "none"
    message = f"Invalid configuration: {named} for method.name={name!r}, whose parameters are: {known}."
    if owners:
        message += (f" They are parameters of {', '.join(owners[:6])}{', ...' if len(owners) > 6 else ''}: a config written "
                    f"for another method (a run's config.yaml, a preset) keeps that method's parameters under method:. "
                    f"Remove them when changing method.name.")
    return message
