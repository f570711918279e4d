"""ExemplarMemory: the memory that replay methods use, always within its byte budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from retain.devices import to_device
from retain.errors import BudgetError, ConfigError
from retain.budget.units import raw_image_bytes
from retain.budget.capacity import class_quota, exemplar_room, largest_common_quota, row_capacity
from retain.memory.codecs import Codec, JpegCodec, RawCodec
from retain.config import MemoryConfig
from retain.memory.policies import build_policy, prefix_slots
from retain.memory.store import MemoryStore

OrderFn = Callable[[int, torch.Tensor], torch.Tensor]


def build_codec(config: MemoryConfig, quality: int | None = None) -> Codec:
    """The codec named by the config (`quality` overrides, e.g. once "auto" is resolved)."""
    if config.codec == "raw":
        return RawCodec()
    quality = config.quality if quality is None else quality
    if quality == "auto":
        raise ConfigError(
            "memory.quality='auto' must be resolved by the method (e.g. MRDC's Rq criterion) before the "
            "memory stores anything; call ExemplarMemory.set_quality(q) with q in 1..100."
        )
    return JpegCodec(quality, backend=config.jpeg_backend, shared_header=config.shared_header)


class ExemplarMemory:
    """A byte-budgeted exemplar memory: class-balanced rebuilds at task end (iCaRL, MEMO,
    LUCIR, GDumb, ...) and streaming insertion during training (ER, DER++, MAER).

    Everything it stores is charged: each row's bytes plus the codec's shared header once.
    `reserved_bytes` arguments are bytes charged elsewhere in the same budget (extra model
    parameters, class statistics, a teacher) and shrink the room for exemplars.
    """

    def __init__(
        self,
        config: MemoryConfig,
        image_shape: Sequence[int],
        device: str | torch.device,
        budget_bytes: int,
        seed: int,
        default_policy: str = "random",
        policy_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.config = config
        self.image_shape = tuple(int(s) for s in image_shape)
        self.device = torch.device(device)
        self.budget_bytes = int(budget_bytes)
        self.policy = build_policy(config.policy or default_policy, **(policy_options or {}))
        self.generator = torch.Generator().manual_seed(int(seed))
        self.num_seen = 0
        self.stream_capacity: int | None = None
        self._store: MemoryStore | None = None
        if not (config.codec == "jpeg" and config.quality == "auto"):
            self._store = self._new_store(build_codec(config))

    # ----------------------------------------------------------------- codec and store
    def _new_store(self, codec: Codec) -> MemoryStore:
        return MemoryStore(codec, self.image_shape, self.device, decode_cache=self.config.decode_cache)

    def set_quality(self, quality: int) -> None:
        """Fix the JPEG quality (memory.quality='auto'); only while the memory is empty."""
        if self._store is not None and len(self._store) > 0:
            raise ConfigError(f"memory.quality cannot change to {quality} once the memory holds exemplars.")
        self._store = self._new_store(build_codec(self.config, quality))

    @property
    def store(self) -> MemoryStore:
        if self._store is None:
            build_codec(self.config)  # raises the 'auto' quality error
        return self._store

    @property
    def codec(self) -> Codec:
        return self.store.codec

    def round_trip(self, images: torch.Tensor) -> torch.Tensor:
        """The images as the memory would give them back (JPEG-compressed for the jpeg codec),
        e.g. to compute herding features on compressed candidates (MRDC)."""
        if self.codec.stores_pixels:
            return images
        return self.codec.decode(self.codec.encode(images), self.image_shape[0]).to(images.device)

    # ----------------------------------------------------------------- budget
    def capacity_bytes(self, reserved_bytes: int = 0) -> int:
        """Bytes left for exemplars: the budget minus bytes charged elsewhere (retain.budget.exemplar_room)."""
        return exemplar_room(self.budget_bytes, reserved_bytes)

    def _pricing_codec(self) -> Codec:
        # Before an 'auto' quality is chosen, quality 1 gives a lower bound on any row's size.
        return self._store.codec if self._store is not None else build_codec(self.config, quality=1)

    def _cheapest_row_bytes(self, sample_images: torch.Tensor | None) -> int:
        codec = self._pricing_codec()
        if codec.stores_pixels:
            return raw_image_bytes(self.image_shape)
        if sample_images is None or len(sample_images) == 0:
            # A flat grey image is about the smallest file the encoder writes: a lower bound.
            sample_images = torch.full((1, *self.image_shape), 128, dtype=torch.uint8)
        rows = codec.encode(sample_images)
        return max(1, sum(codec.row_bytes(r) for r in rows) // len(rows))

    def check_feasible(
        self, num_classes_total: int, reserved_bytes: int = 0, sample_images: torch.Tensor | None = None
    ) -> None:
        """Raise BudgetError now if the budget cannot hold one exemplar (or `per_class`) for
        every class of the run. JPEG sizes come from `sample_images` when given."""
        per_class = self.config.per_class or 1
        row = self._cheapest_row_bytes(sample_images)
        needed = num_classes_total * per_class * row + len(self._pricing_codec().header)
        room = self.capacity_bytes(reserved_bytes)
        if needed > room:
            raise _impossible(room, num_classes_total, row, per_class)

    # ----------------------------------------------------------------- task-end rebuild
    def rebuild_class_balanced(
        self,
        new_images_by_class: dict[int, torch.Tensor],
        seen_classes: Sequence[int],
        task: int,
        order_fn: OrderFn | None = None,
        reserved_bytes: int = 0,
        step: int = 0,
        merge_memory: bool = False,
    ) -> int:
        """Shrink every old class to its first m rows and add each new class's first m
        candidates in the priority order of `order_fn(class, images)` (random when None).

        m is `memory.per_class` when set, else the largest common quota for which every class
        of `seen_classes` fits the byte budget; a class with fewer candidates than m keeps all
        of them and leaves its room to the others (so the memory fills its room). A class in
        `new_images_by_class` replaces its stored rows; with `merge_memory` its candidates are
        the given images followed by its stored rows (stream ∪ memory, as Rainbow Memory's code
        selects for every exposed class), and a stored row that is chosen again keeps its
        encoded bytes and its task column. Returns m.
        """
        store = self.store
        room = self.capacity_bytes(reserved_bytes)
        new_rows: dict[int, Any] = {}
        new_tasks: dict[int, torch.Tensor | int] = {}
        sizes: dict[int, list[int]] = {}
        candidates_per_class: dict[int, int] = {}
        for c, images in new_images_by_class.items():
            c = int(c)
            stored = store.slots_of_class(c).cpu() if merge_memory else torch.empty(0, dtype=torch.int64)
            if stored.numel():
                candidates = torch.cat([images, store.gather(stored).to(images.device)])
            else:
                candidates = images
            order = self._order(c, candidates, order_fn)
            candidates_per_class[c] = candidates.shape[0]
            if stored.numel():
                new_rows[c], new_tasks[c] = self._merged_rows(images, stored, order, task)
            else:
                new_rows[c] = store.codec.encode(images.index_select(0, order.to(images.device)))
                new_tasks[c] = task
            sizes[c] = [store.codec.row_bytes(r) for r in new_rows[c]]
        old_sizes = store.row_nbytes()
        for c in seen_classes:
            if int(c) not in new_rows:
                sizes[int(c)] = old_sizes[store.slots_of_class(int(c)).cpu()].tolist()
                candidates_per_class[int(c)] = len(sizes[int(c)])
        m = self._quota(sizes, seen_classes, room, candidates_per_class)
        store.keep(prefix_slots(store.labels, {int(c): m for c in seen_classes if int(c) not in new_rows}))
        for c, rows in new_rows.items():
            if len(rows[:m]):
                tasks = new_tasks[c]
                store.add_rows(rows[:m], labels=c, task=tasks if isinstance(tasks, int) else tasks[:m], step=step)
        if store.nbytes() > room:
            raise RuntimeError(f"memory holds {store.nbytes():,} bytes > {room:,} after rebuild (a bug)")
        return m

    def _merged_rows(self, images: torch.Tensor, stored: torch.Tensor, order: torch.Tensor, task: int):
        """Rows of one class in priority `order` over [images, stored slots]: fresh images are
        encoded, stored rows keep their bytes (no second JPEG generation) and their task."""
        store = self.store
        fresh = images.shape[0]
        order = order.cpu()
        is_fresh = order < fresh
        tasks = torch.where(is_fresh, torch.full_like(order, task), store.tasks.cpu()[stored[(order - fresh).clamp(min=0)]])
        if store.codec.stores_pixels:
            pool = torch.cat([images.to(store.device), store.gather(stored)])
            return pool.index_select(0, order.to(store.device)), tasks
        encoded = store.codec.encode(images.index_select(0, order[is_fresh].to(images.device)))
        kept = store.encoded_rows()
        fresh_rows = iter(encoded)
        rows = [next(fresh_rows) if int(i) < fresh else kept[int(stored[int(i) - fresh])] for i in order]
        return rows, tasks

    def _order(self, label: int, images: torch.Tensor, order_fn: OrderFn | None) -> torch.Tensor:
        if order_fn is None:
            return torch.randperm(images.shape[0], generator=self.generator)
        order = torch.as_tensor(order_fn(label, images), dtype=torch.int64)
        if torch.unique(order).numel() != order.numel():
            raise ValueError(f"order_fn for class {label} returned repeated indices")
        return order

    def _quota(self, sizes: dict[int, list[int]], seen_classes: Sequence[int], room: int, candidates: dict[int, int]) -> int:
        header = len(self.codec.header)
        if self.config.per_class is not None:
            m = self.config.per_class
        elif self.codec.stores_pixels:
            # Candidates, not ranked rows: LUCIR's herding may rank fewer than m and that room stays empty.
            counts = [candidates.get(int(c), 0) for c in seen_classes]
            m = class_quota(counts, row_capacity(room, raw_image_bytes(self.image_shape)))
        else:
            m = largest_common_quota(sizes, room, header)
        largest = max((len(s) for s in sizes.values()), default=0)
        if m < 1 or largest_common_quota(sizes, room, header) < min(m, largest):
            raise _impossible(room, len(seen_classes), self._cheapest_row_bytes(None), self.config.per_class or 1)
        return m

    # ----------------------------------------------------------------- streaming insertion
    def insert_stream(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        task: int,
        step: int = 0,
        policy: str | None = None,
        reserved_bytes: int = 0,
        scores: torch.Tensor | None = None,
        extras: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Insert a stream batch with a streaming policy (reservoir by default for ER) into a
        row capacity derived from the budget. Returns (batch positions, slots) written.

        Raw rows: capacity = ⌊bytes / row bytes⌋. JPEG rows: the capacity is set from the
        first batch's mean encoded size; if a later insertion overshoots the byte budget,
        random rows (of the largest class for balanced policies) are evicted and the row
        capacity shrinks to what remains, so the budget always holds.
        """
        store = self.store
        chooser = self.policy if policy is None else build_policy(policy)
        if not chooser.streaming:
            raise ConfigError(f"memory.policy={chooser.name!r} does not insert during training; use a streaming policy such as 'reservoir'.")
        room = self.capacity_bytes(reserved_bytes)
        capacity = self._stream_rows(images, room, self._columns_per_row(extras, scores))
        positions, slots = chooser.assign(self.num_seen, labels, store.labels, capacity, self.generator)
        self.num_seen += images.shape[0]
        self._write_stream(positions, slots, images, labels, task, step, scores, extras)
        self._evict_over_budget(room, balanced=getattr(chooser, "balanced", chooser.name != "reservoir"))
        return positions, slots

    def _columns_per_row(self, extras: dict[str, torch.Tensor] | None, scores: torch.Tensor | None) -> int:
        """Charged bytes per row of the values stored with it (`memory.charge_columns`)."""
        if not self.config.charge_columns:
            return 0
        columns = sum(values[0].numel() * values.element_size() for values in (extras or {}).values() if len(values))
        return columns + (4 if scores is not None or self.store.scores_kept else 0)

    def column_bytes(self) -> int:
        """Bytes charged for the stored columns of the rows held now (0 with charge_columns off)."""
        if not self.config.charge_columns:
            return 0
        return len(self.store) * self.store.column_row_bytes()

    def _stream_rows(self, images: torch.Tensor, room: int, column_bytes: int = 0) -> int:
        if self.stream_capacity is None:
            row = self._cheapest_row_bytes(images) if not self.codec.stores_pixels else raw_image_bytes(self.image_shape)
            row += column_bytes
            header = len(self.codec.header)
            self.stream_capacity = row_capacity(room - header, row)
            if self.stream_capacity < 1:
                raise _impossible(room, 1, row, 1)
        return self.stream_capacity

    def set_aside(self, rows: int) -> None:
        """Take `rows` slots out of the reservoir (they stay stored, beyond `stream_capacity`, and
        insertion never touches them: maer_high's long-tail area)."""
        if self.stream_capacity is None or not 0 <= rows <= self.stream_capacity:
            raise ValueError(f"cannot set {rows} rows aside from a reservoir of {self.stream_capacity} rows")
        self.stream_capacity -= rows

    def _write_stream(self, positions, slots, images, labels, task, step, scores, extras) -> None:
        if not len(slots):
            return

        def rows(values: torch.Tensor) -> torch.Tensor:
            return values.index_select(0, to_device(positions, values.device))

        self.store.write(
            slots, rows(images), rows(labels), task=task, step=step,
            scores=None if scores is None else rows(scores),
            extras=None if extras is None else {name: rows(values) for name, values in extras.items()},
        )

    def _evict_over_budget(self, room: int, balanced: bool) -> None:
        store = self.store
        if self.codec.stores_pixels:
            return  # raw rows: the row capacity already guarantees the budget
        while len(store) and store.nbytes() + self.column_bytes() > room:
            labels = store.labels.cpu()
            pool = torch.arange(len(store))
            if balanced:
                classes, counts = torch.unique(labels, return_counts=True)
                pool = torch.nonzero(labels == classes[torch.argmax(counts)]).flatten()
            victim = int(pool[torch.randint(pool.numel(), (1,), generator=self.generator)])
            survivors = torch.arange(len(store))
            survivors[victim] = len(store) - 1  # swap-remove keeps slots 0..n-2 dense
            store.keep(survivors[:-1])
            self.stream_capacity = len(store)

    # ----------------------------------------------------------------- ledger and state
    def ledger_items(self) -> dict[str, int]:
        store = self.store
        rows = int(store.row_nbytes().sum()) if len(store) else 0
        header = len(self.codec.header) if len(store) else 0
        items = {"exemplars": rows, "codec_header": header}
        if self.config.charge_columns and store.column_row_bytes():  # memories that keep values with their rows
            items["stored_columns"] = self.column_bytes()
        return items

    def exemplars_per_class(self) -> dict[int, int]:
        return self.store.class_counts()

    def state_dict(self) -> dict[str, Any]:
        return {
            "store": None if self._store is None else self._store.state_dict(),
            "quality": getattr(self._store.codec, "quality", 0) if self._store is not None else 0,
            "generator": self.generator.get_state(),
            "num_seen": self.num_seen,
            "stream_capacity": -1 if self.stream_capacity is None else self.stream_capacity,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state["store"] is not None:
            if self.config.codec == "jpeg" and self.config.quality == "auto":
                self.set_quality(int(state["quality"]))
            self.store.load_state_dict(state["store"])
        self.generator.set_state(state["generator"])
        self.num_seen = int(state["num_seen"])
        capacity = int(state["stream_capacity"])
        self.stream_capacity = None if capacity < 0 else capacity


def _impossible(room: int, num_classes: int, row_bytes: int, per_class: int) -> BudgetError:
    return BudgetError(
        f"Impossible budget: less than {'one exemplar' if per_class == 1 else f'{per_class} exemplars'} per seen "
        f"class. {room:,} bytes are left for exemplars, {num_classes} classes need at least {per_class} each, and "
        f"one exemplar needs about {row_bytes:,} bytes ({num_classes * per_class * row_bytes:,} bytes in all). "
        f"Raise memory.budget, lower memory.per_class or use a cheaper codec (memory.codec='jpeg')."
    )
