"""(f) The encoded (ImageNet) data path's decode rate feeding the device — when this version has one.

The path is being built (issue 27). It is detected by feature, never assumed: a `data.storage`
(or `data.max_side`) setting in retain's config schema, and a benchmark in `benchmarks/` whose name
says it times decoding. Without the setting the check is skipped as "no encoded data path in
this version"; with the setting but no benchmark it is skipped saying so; with both, that
benchmark runs on the device at its quick sizes and its rows are reported.
"""

from __future__ import annotations

import json

from benchmarks.gpu.context import Context, Skip
from benchmarks.gpu.report import Check

FEATURE_FIELDS = ("storage", "max_side")
BENCHMARK_WORDS = ("encoded", "decode", "imagenet")


def run(ctx: Context) -> None:
    ctx.guarded(Check("f", "encoded data path: decode rate feeding the device"), lambda check: _decode(ctx, check))


def encoded_settings() -> list[str]:
    """The data settings of an encoded data path that this retain has (empty: none)."""
    import retain

    try:
        fields = retain.RetainConfig.model_fields["data"].annotation.model_fields
    except (AttributeError, KeyError):
        return []
    return [f"data.{name}" for name in FEATURE_FIELDS if name in fields]


def decode_benchmarks() -> list[str]:
    from benchmarks.__main__ import BENCHMARKS

    return [name for name in BENCHMARKS if any(word in name for word in BENCHMARK_WORDS)]


def _decode(ctx: Context, check: Check) -> None:
    settings, benchmarks = encoded_settings(), decode_benchmarks()
    check.details.update(settings=settings, benchmarks=benchmarks)
    if not settings:
        raise Skip("skipped: no encoded data path in this version (retain's config has no data.storage setting)")
    if not benchmarks:
        raise Skip(f"skipped: {settings[0]} exists but no decode benchmark is registered in benchmarks/__main__.py to time it")
    from benchmarks.__main__ import run_named
    from benchmarks.runner import Settings

    ctx.need(5)
    name = benchmarks[0]
    ctx.log(f"f running `python -m benchmarks {name} --quick --device {ctx.device}`")
    run_named(name, Settings(repeats=1, quick=True, device=ctx.device), out_dir=ctx.work / "f")
    payload = json.loads((ctx.work / "f" / f"{name}.json").read_text())
    check.table = payload["rows"]
    check.details["summary"] = payload.get("summary")
    check.set("info", f"`benchmarks {name}`: {len(payload['rows'])} rows (below)", "measured, not judged")
