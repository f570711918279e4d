"""Write docs/api.md, the API reference of every public name of `retain`, from the docstrings.

    python docs/make_api.py           # rewrite docs/api.md
    python docs/make_api.py --check   # exit 1 when docs/api.md is out of date

tests/test_api.py runs the check, so a changed signature or docstring without a regenerated
reference fails the test suite (no network or documentation tool needed).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import retain

OUT = Path(__file__).resolve().parent / "api.md"
HEADER = """# API reference

Generated from the docstrings by `python docs/make_api.py` (do not edit by hand). Every name
below is importable from `retain` itself (`from retain import register_method`). The tutorial
is [extending.md](extending.md); the contracts between the packages are in
[internals.md](internals.md).
"""


def public_members(cls: type) -> list[tuple[str, object]]:
    """Public functions and properties that `cls` itself defines (not those it inherits)."""
    members = []
    for name, value in vars(cls).items():
        if name.startswith("_") or name in getattr(cls, "model_fields", {}):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            members.append((name, value))
    return members


def signature(obj: object) -> str:
    """The call signature as written in the source (string annotations kept)."""
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return "(...)"


def document(name: str) -> list[str]:
    obj = getattr(retain, name)
    lines = []
    if inspect.isclass(obj):
        kind = "exception" if issubclass(obj, BaseException) else "class"
        fields = getattr(obj, "model_fields", None)
        shown = "" if fields is not None else signature(obj)
        lines += [f"## `{name}{shown}`", "", f"*{kind}* — `{obj.__module__}.{obj.__qualname__}`", "", inspect.getdoc(obj) or "", ""]
        if fields:
            lines += ["Fields: " + ", ".join(f"`{field}`" for field in fields) + ".", ""]
        for member, value in public_members(obj):
            summary = (inspect.getdoc(value) or "(no docstring)").split("\n\n")[0].replace("\n", " ")
            if isinstance(value, property):
                lines += [f"* `{member}` (property): {summary}"]
            else:
                lines += [f"* `{member}{signature(value)}`: {summary}"]
        lines.append("")
    else:
        lines += [f"## `{name}{signature(obj)}`", "", f"*function* — `{obj.__module__}.{obj.__qualname__}`", "",
                  inspect.getdoc(obj) or "", ""]
    return lines


def render() -> str:
    lines = [HEADER]
    for name in retain.__all__:
        if name == "__version__":
            continue
        lines += document(name)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python docs/make_api.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
