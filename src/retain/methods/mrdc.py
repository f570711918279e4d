"""MRDC (Wang et al., ICLR 2022; spec §1.4-1.5): LUCIR with a JPEG exemplar memory and the Rq criterion.

The byte budget of a raw memory holds more exemplars as JPEG files at quality q. Herding runs
on the compressed candidates, the memory keeps the compressed files and they are replayed
through the normal training augmentation next to the current task's uncompressed data. With
`memory.quality: auto`, q is chosen at the end of the first task by the DPP/Rq criterion:
the lowest q on a descending grid whose feature log-volume ratio R_q stays within a tolerance
of 1 (scanning stops at the first failing q). Once the memory holds exemplars q cannot
change, so later tasks only record the criterion.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, field_validator

from retain.errors import ConfigError
from retain.memory import build_codec, build_policy
from retain.memory.quality import DEFAULT_GRID, DEFAULT_RIDGE, DEFAULT_TOLERANCE, QualitySearch
from retain.methods.base import Setting, register_method
from retain.methods.lucir import LUCIR, LUCIRParams
from retain.scenarios import TaskSpec


class MRDCParams(LUCIRParams):
    """LUCIR's parameters plus the quality search (used when memory.quality is 'auto').

    `rq_select_on: original` is the paper's version (herd on the original images, then compress
    the chosen ones); `compressed` is the official Rq script's (herd on each side's own images).
    `rq_gram: auto` takes the log-determinant of the smaller Gram matrix, so N_q larger than the
    feature dimension keeps a finite, comparable volume; `rows` is det(M Mᵀ + ridge·I) as written.
    `rq_skip_below: -500` reproduces the script's dropping of singular classes.
    `rq_every_task` records the criterion for every later task too (q stays fixed).
    """

    rq_grid: list[int] = Field(default_factory=lambda: list(DEFAULT_GRID), description="JPEG qualities tried by the Rq criterion, best first.")
    rq_tolerance: float = Field(DEFAULT_TOLERANCE, gt=0, description="How far the compressed log-volume may fall below the original's for a quality to be accepted.")
    rq_ridge: float = Field(DEFAULT_RIDGE, ge=0, description="Ridge added to the Gram matrix before its log-determinant.")
    rq_gram: Literal["auto", "rows", "columns"] = "auto"
    rq_select_on: Literal["original", "compressed"] = "original"
    rq_skip_below: float | None = None
    rq_every_task: bool = True
    ncm_images: Literal["compressed", "original"] = Field(
        "compressed", description="Images the NCM class means are computed on: the training images JPEG-compressed at "
        "the memory's quality, as the official code does (class_incremental_cosine_imagenet.py, spec §11), or as they are.")

    @field_validator("rq_grid")
    @classmethod
    def _qualities(cls, grid: list[int]) -> list[int]:
        if not grid or any(not 1 <= q <= 100 for q in grid) or len(set(grid)) != len(grid):
            raise ValueError(f"method.rq_grid={grid} must be distinct JPEG qualities in 1..100, e.g. [90, 80, ..., 10]")
        return grid


@register_method("mrdc")
class MRDC(LUCIR):
    """LUCIR + JPEG-compressed exemplars (memory.codec=jpeg) at a fixed or Rq-chosen quality."""

    Params = MRDCParams
    chooses_quality: ClassVar[bool] = True
    persist = ("quality", "searches")

    @classmethod
    def refusal(cls, setting: Setting) -> str | None:
        if setting.codec != "jpeg":
            return ("MRDC stores JPEG exemplars. Set memory.codec=jpeg (with memory.quality=auto or 1..100), "
                    "or use method.name=lucir for a raw memory.")
        return super().refusal(setting)

    def __init__(self, ctx, params: MRDCParams) -> None:
        memory = ctx.settings.memory
        if memory.per_class is not None:
            raise ConfigError(
                f"method.name='mrdc' turns a byte budget into more compressed exemplars, but memory.per_class="
                f"{memory.per_class} fixes the count per class. Give the budget as memory.budget instead "
                "(e.g. '2000 images' for 20 raw images per class of CIFAR-100) and leave memory.per_class unset."
            )
        super().__init__(ctx, params)
        self.auto_quality = memory.quality == "auto"
        self.quality: int | None = None if self.auto_quality else int(memory.quality)
        self.searches: list[dict[str, Any]] = []

    def before_task(self, task: TaskSpec) -> None:
        if self.auto_quality and self.quality is None:
            # The trainer reads the (still empty) memory: give it a provisional codec until q is chosen.
            self.memory.set_quality(max(self.params.rq_grid))
        super().before_task(task)

    def after_task(self, task: TaskSpec) -> None:
        if self.auto_quality and (self.quality is None or self.params.rq_every_task):
            self.search_quality(task)
        super().after_task(task)

    def search_quality(self, task: TaskSpec) -> dict[str, Any]:
        """Run the Rq criterion on the task's new classes with the current model; fix q if not yet fixed."""
        params = self.params
        search = QualitySearch(
            grid=params.rq_grid, tolerance=params.rq_tolerance, ridge=params.rq_ridge, gram=params.rq_gram,
            select_on=params.rq_select_on, skip_below=params.rq_skip_below,
        )
        herding = build_policy("herding", variant=params.herding)
        room = self.memory.capacity_bytes(self.reserved_bytes())
        points, selected = search.run(
            self.candidates_by_class(task),
            features_fn=self.normalized_features,
            rank_fn=lambda features, m: herding.order(features.shape[0], None, features=features, limit=m),
            make_codec=lambda q: build_codec(self.ctx.settings.memory, q),
            room_bytes=room,
            num_classes=len(task.seen_classes),
        )
        fallback = selected is None
        if self.quality is None:
            # If even the highest quality changes the volume too much, keep the highest grid quality.
            self.quality = max(params.rq_grid) if fallback else selected
            self.memory.set_quality(self.quality)
            self.ctx.log(f"MRDC: quality {self.quality} chosen by the Rq criterion after task {task.index + 1}")
        record = {
            "task": task.index,
            "grid": [p.to_dict() for p in points],
            "selected": selected,
            "fallback_to_highest": fallback,
            "chosen": self.quality,
            "room_bytes": room,
            "classes": len(task.seen_classes),
            "select_on": params.rq_select_on,
        }
        self.searches.append(record)
        return record

    def ncm_images(self, images: torch.Tensor) -> torch.Tensor:
        """The NCM means of the official code come from the compressed training images (spec §11)."""
        if self.params.ncm_images == "original":
            return images
        return torch.cat([self.memory.round_trip(chunk) for chunk in images.split(4096)]) if len(images) else images

    def extra_results(self) -> dict[str, Any]:
        return {"quality": self.quality, "quality_auto": self.auto_quality, "quality_search": self.searches}

    def before_restore(self, state: dict[str, Any]) -> None:
        if self.auto_quality and state["quality"] is not None:
            self.memory.set_quality(int(state["quality"]))  # the stored rows were encoded at it
