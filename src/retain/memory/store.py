"""The memory store: stored rows plus metadata columns, gathered as uint8 batches on device."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from retain.devices import to_device
from retain.errors import CheckpointError
from retain.budget.units import raw_image_bytes
from retain.memory.codecs.base import Codec

_COLUMNS = {"labels": torch.int64, "tasks": torch.int64, "steps": torch.int64, "scores": torch.float32}
_MIN_CAPACITY = 16


class MemoryStore:
    """Rows (raw pixels or encoded bytes) with columns labels, tasks, steps, scores and extras.

    Slots 0..len-1 are used; their order is the priority order (a class's first slots are
    the ones kept when it shrinks). Raw rows live in one preallocated uint8 tensor on the
    device that grows by doubling, so `gather` is one index_select. Encoded rows keep their
    bytes (what is charged); with `decode_cache` they are also decoded once at insertion into
    the same kind of pixel tensor. Decoding is deterministic, so the cache holds exactly the
    decoded images; it is a working copy and is not charged to the budget.
    """

    def __init__(
        self, codec: Codec, image_shape: Sequence[int], device: str | torch.device = "cpu", decode_cache: bool = True
    ) -> None:
        self.codec = codec
        self.image_shape = tuple(int(s) for s in image_shape)
        self.device = torch.device(device)
        self.decode_cache = decode_cache
        self._size = 0
        self._capacity = 0
        self._pixels: torch.Tensor | None = None
        self._encoded: list[bytes] = []
        self._columns = {name: torch.empty(0, dtype=dtype, device=self.device) for name, dtype in _COLUMNS.items()}
        self._extras: dict[str, torch.Tensor] = {}
        self.scores_kept = False  # a method wrote per-row scores (then they are stored data)

    def state_view(self) -> dict[str, Any]:
        """The store's state without its spare capacity: the rows in use of every column (what a
        checkpoint must restore; the rows past `len(self)` are scratch)."""
        view = {k: v for k, v in vars(self).items() if k not in ("_capacity", "_pixels", "_columns", "_extras")}
        view["pixels"] = None if self._pixels is None else self._pixels[: self._size]
        view["columns"] = {name: values[: self._size] for name, values in self._columns.items()}
        view["extras"] = self.extras
        return view

    # ----------------------------------------------------------------- sizes and views
    def __len__(self) -> int:
        return self._size

    @property
    def keeps_pixels(self) -> bool:
        return self.codec.stores_pixels or self.decode_cache

    @property
    def labels(self) -> torch.Tensor:
        return self._columns["labels"][: self._size]

    @property
    def tasks(self) -> torch.Tensor:
        return self._columns["tasks"][: self._size]

    @property
    def steps(self) -> torch.Tensor:
        return self._columns["steps"][: self._size]

    @property
    def scores(self) -> torch.Tensor:
        return self._columns["scores"][: self._size]

    @property
    def extras(self) -> dict[str, torch.Tensor]:
        return {name: values[: self._size] for name, values in self._extras.items()}

    def class_counts(self) -> dict[int, int]:
        classes, counts = torch.unique(self.labels, return_counts=True)
        return dict(zip(classes.tolist(), counts.tolist()))

    def slots_of_class(self, label: int) -> torch.Tensor:
        """Slots holding `label`, in priority (slot) order."""
        return torch.nonzero(self.labels == label).flatten()

    def row_nbytes(self) -> torch.Tensor:
        if self.codec.stores_pixels:
            return torch.full((self._size,), raw_image_bytes(self.image_shape), dtype=torch.int64)
        return torch.tensor([self.codec.row_bytes(r) for r in self._encoded], dtype=torch.int64)

    def column_row_bytes(self) -> int:
        """Bytes per row of the values a method stores with its rows: every extra column (DER++'s
        logits) and the scores when a method wrote them, at their dtype's size (float32: 4)."""
        columns = sum(values[0].numel() * values.element_size() for values in self._extras.values()) if self._extras else 0
        return columns + (self._columns["scores"].element_size() if self.scores_kept else 0)

    def nbytes(self) -> int:
        """Bytes charged: every row plus the codec's shared header once (when rows exist)."""
        if self._size == 0:
            return 0
        return int(self.row_nbytes().sum()) + len(self.codec.header)

    # ----------------------------------------------------------------- writing
    def add(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | int,
        task: torch.Tensor | int,
        step: torch.Tensor | int = 0,
        scores: torch.Tensor | float | None = None,
        extras: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Append rows; returns their slots."""
        self._check_shape(images)
        return self.add_rows(self.codec.encode(images), labels, task, step, scores, extras)

    def add_rows(
        self,
        rows: Sequence[Any],
        labels: torch.Tensor | int,
        task: torch.Tensor | int,
        step: torch.Tensor | int = 0,
        scores: torch.Tensor | float | None = None,
        extras: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Append rows already encoded by this store's codec (saves a second encoding)."""
        count = len(rows)
        self._grow(self._size + count)
        slots = torch.arange(self._size, self._size + count, device=self.device)
        if not self.codec.stores_pixels:
            self._encoded.extend([b""] * count)
        self._size += count
        self._write(slots, rows, labels, task, step, scores, extras)
        return slots

    def replace(
        self,
        slots: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor | int,
        task: torch.Tensor | int,
        step: torch.Tensor | int = 0,
        scores: torch.Tensor | float | None = None,
        extras: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Overwrite existing slots with new rows."""
        slots = torch.as_tensor(slots, dtype=torch.int64, device=self.device)
        if slots.numel() and (int(slots.min()) < 0 or int(slots.max()) >= self._size):
            raise IndexError(f"replace: slots must lie in 0..{self._size - 1}")
        self._check_shape(images)
        self._write(slots, self.codec.encode(images), labels, task, step, scores, extras)

    def write(
        self,
        slots: torch.Tensor,
        images: torch.Tensor,
        labels: torch.Tensor | int,
        task: torch.Tensor | int,
        step: torch.Tensor | int = 0,
        scores: torch.Tensor | float | None = None,
        extras: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Write rows at distinct slots in one pass: slots below len are overwritten, the
        others must be exactly len..len+k-1 (in any order) and are appended.

        `slots` is checked on the host (a CPU tensor, as policies return it), so a streaming
        insertion never waits for the device."""
        wanted = slots.tolist() if slots.device.type == "cpu" else None
        if wanted is None:  # device slots: validated after one host copy
            wanted = slots.cpu().tolist()
        count = len(wanted)
        if count == 0:
            return
        appended = sum(1 for slot in wanted if slot >= self._size)
        if min(wanted) < 0 or max(wanted) >= self._size + appended or len(set(wanted)) != count:
            raise IndexError(f"write: slots must be distinct, in 0..{self._size - 1} or the next {appended} new slots")
        self._check_shape(images)
        rows = self.codec.encode(images)
        if appended:
            self._grow(self._size + appended)
            if not self.codec.stores_pixels:
                self._encoded.extend([b""] * appended)
            self._size += appended
        self._write(to_device(slots, self.device), rows, labels, task, step, scores, extras, host_slots=wanted)

    def _check_shape(self, images: torch.Tensor) -> None:
        if tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f"store holds images of shape {self.image_shape}, got {tuple(images.shape[1:])}")

    def _write(self, slots, rows, labels, task, step, scores, extras, host_slots: list[int] | None = None) -> None:
        """`host_slots`: the same slots as a list when the caller has one (reading device slots back waits for the device)."""
        count = slots.numel()
        if count == 0:
            return
        if self.codec.stores_pixels:
            _copy_rows(self._pixels, slots, rows.to(self.device))
        else:
            for slot, row in zip(slots.tolist() if host_slots is None else host_slots, rows):
                self._encoded[slot] = row
            if self.decode_cache:
                _copy_rows(self._pixels, slots, self.codec.decode(rows, self.image_shape[0]).to(self.device))
        self.scores_kept = self.scores_kept or scores is not None
        for name, value in (("labels", labels), ("tasks", task), ("steps", step), ("scores", 0.0 if scores is None else scores)):
            column = self._columns[name]
            if isinstance(value, (int, float)) or (isinstance(value, torch.Tensor) and value.dim() == 0):
                column.index_fill_(0, slots, value)  # one value for every row
            else:
                column.index_copy_(0, slots, _fill(value, count, column))
        for name, values in (extras or {}).items():
            self._ensure_extra(name, values)
        for name, column in self._extras.items():
            given = (extras or {}).get(name)
            values = torch.zeros((count, *column.shape[1:]), dtype=column.dtype, device=self.device) if given is None else given
            column.index_copy_(0, slots, values.to(self.device, column.dtype))

    def keep(self, slots: torch.Tensor) -> None:
        """Keep only these slots, in this order (they become slots 0..len(slots)-1)."""
        slots = torch.as_tensor(slots, dtype=torch.int64, device=self.device)
        if slots.numel() and (int(slots.min()) < 0 or int(slots.max()) >= self._size):
            raise IndexError(f"keep: slots must lie in 0..{self._size - 1}")
        if torch.unique(slots).numel() != slots.numel():
            raise ValueError("keep: slots must not repeat")
        count = slots.numel()
        if self._pixels is not None:
            self._pixels[:count] = self._pixels.index_select(0, slots)
        for column in (*self._columns.values(), *self._extras.values()):
            column[:count] = column.index_select(0, slots)
        if not self.codec.stores_pixels:
            self._encoded = [self._encoded[i] for i in slots.tolist()]
        self._size = count

    def remove(self, slots: torch.Tensor) -> None:
        """Drop these slots; the others keep their relative order."""
        keep = torch.ones(self._size, dtype=torch.bool, device=self.device)
        keep[torch.as_tensor(slots, dtype=torch.int64, device=self.device)] = False
        self.keep(torch.nonzero(keep).flatten())

    def clear(self) -> None:
        self.keep(torch.empty(0, dtype=torch.int64, device=self.device))

    # ----------------------------------------------------------------- reading
    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        """uint8 images N×C×H×W on the store's device for these slots."""
        indices = to_device(torch.as_tensor(indices, dtype=torch.int64), self.device)
        if self._pixels is not None:
            return self._pixels.index_select(0, indices)
        if indices.numel() == 0:
            return torch.empty((0, *self.image_shape), dtype=torch.uint8, device=self.device)
        rows = [self._encoded[i] for i in indices.tolist()]
        return self.codec.decode(rows, self.image_shape[0]).to(self.device)

    def encoded_rows(self) -> list[bytes]:
        """The stored bytes of every row (encoded codecs only)."""
        return list(self._encoded)

    # ----------------------------------------------------------------- storage
    def _grow(self, needed: int) -> None:
        if needed <= self._capacity:
            return
        capacity = max(needed, 2 * self._capacity, _MIN_CAPACITY)
        if self.keeps_pixels:
            self._pixels = _resized(self._pixels, capacity, (*self.image_shape,), torch.uint8, self.device)
        for name, column in self._columns.items():
            self._columns[name] = _resized(column, capacity, (), column.dtype, self.device)
        for name, column in self._extras.items():
            self._extras[name] = _resized(column, capacity, column.shape[1:], column.dtype, self.device)
        self._capacity = capacity

    def _ensure_extra(self, name: str, values: torch.Tensor) -> None:
        column = self._extras.get(name)
        if column is None:
            self._extras[name] = torch.zeros((self._capacity, *values.shape[1:]), dtype=values.dtype, device=self.device)
        elif column.shape[1:] != values.shape[1:]:
            raise ValueError(f"extra {name!r} has rows of shape {tuple(column.shape[1:])}, got {tuple(values.shape[1:])}")

    def state_dict(self) -> dict[str, Any]:
        """Tensors, ints and strings only, so it loads with torch.load(weights_only=True)."""
        state: dict[str, Any] = {
            "codec": self.codec.name,
            "image_shape": torch.tensor(self.image_shape, dtype=torch.int64),
            "size": self._size,
            "columns": {name: self._columns[name][: self._size].cpu().clone() for name in _COLUMNS},
            "extras": {name: values[: self._size].cpu().clone() for name, values in self._extras.items()},
            "scores_kept": int(self.scores_kept),
        }
        if self.codec.stores_pixels:
            state["pixels"] = self._pixels[: self._size].cpu().clone() if self._size else torch.empty(0, dtype=torch.uint8)
        else:
            lengths = torch.tensor([0] + [len(r) for r in self._encoded], dtype=torch.int64)
            state["offsets"] = torch.cumsum(lengths, 0)
            state["encoded"] = torch.frombuffer(bytearray(b"".join(self._encoded)), dtype=torch.uint8) if self._size else torch.empty(0, dtype=torch.uint8)
            state["header"] = torch.frombuffer(bytearray(self.codec.header), dtype=torch.uint8) if self.codec.header else torch.empty(0, dtype=torch.uint8)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        shape = tuple(int(s) for s in state["image_shape"].tolist())
        if state["codec"] != self.codec.name or shape != self.image_shape:
            raise CheckpointError(
                f"The checkpoint's memory holds {state['codec']!r} rows of shape {shape}, but this run's memory "
                f"uses memory.codec={self.codec.name!r} with images of shape {self.image_shape}; resume with the "
                f"configuration that wrote the checkpoint."
            )
        size = int(state["size"])
        self._size = 0
        self._encoded = []
        self._extras = {}
        self.scores_kept = bool(state.get("scores_kept", 0))
        self._grow(size)
        self._size = size
        for name in _COLUMNS:
            self._columns[name][:size] = state["columns"][name].to(self.device)
        for name, values in state["extras"].items():
            self._ensure_extra(name, values)
            self._extras[name][:size] = values.to(self.device)
        if self.codec.stores_pixels:
            if size:
                self._pixels[:size] = state["pixels"].to(self.device)
            return
        self.codec.set_header(bytes(state["header"].numpy().tobytes()))
        blob = state["encoded"].numpy().tobytes()
        offsets = state["offsets"].tolist()
        self._encoded = [blob[offsets[i] : offsets[i + 1]] for i in range(size)]
        if self.decode_cache and size:
            self._pixels[:size] = self.codec.decode(self._encoded, self.image_shape[0]).to(self.device)


def _copy_rows(buffer: torch.Tensor, slots: torch.Tensor, rows: torch.Tensor) -> None:
    """buffer[slots] = rows (along dim 0) for uint8 pixel rows.

    index_copy_ copies element by element on the CPU; viewing each row as 64-bit words (when
    its byte count allows) moves the same bytes about 5x faster for 32 CIFAR rows."""
    flat = rows.reshape(rows.shape[0], -1)
    width = flat.shape[1]
    if buffer.dtype == torch.uint8 and width % 8 == 0 and buffer.is_contiguous() and buffer.storage_offset() == 0:
        if not flat.is_contiguous() or flat.storage_offset() % 8:
            flat = flat.clone()
        buffer.view(buffer.shape[0], width).view(torch.int64).index_copy_(0, slots, flat.view(torch.int64))
    else:
        buffer.index_copy_(0, slots, rows)


def _fill(value: torch.Tensor | int | float, count: int, like: torch.Tensor) -> torch.Tensor:
    """A column value broadcast to `count` rows with the column's dtype and device."""
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    return tensor.expand(count) if tensor.dim() == 0 else tensor.reshape(count)


def _resized(old: torch.Tensor | None, capacity: int, trailing: tuple, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    new = torch.zeros((capacity, *trailing), dtype=dtype, device=device)
    if old is not None and old.shape[0]:
        new[: old.shape[0]] = old
    return new
