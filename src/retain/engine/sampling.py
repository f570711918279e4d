"""An epoch's batches: which rows each step takes (stream indices and memory slots), and the
uint8 rows gathered by index and augmented on the device."""

from __future__ import annotations

import functools

import torch

from retain.devices import to_device
from retain.engine.batch import Batch, Phase
from retain.engine.context import RunContext
from retain.engine.protocol import TrainableMethod as Method  # the engine's view of a method
from retain.engine.short_batches import chunks


def memory_store(method: Method):
    memory = getattr(method, "memory", None)
    return None if memory is None else memory.store


def steps_per_epoch(method: Method, phase: Phase, batch_size: int, drop: bool) -> int:
    """The number of batches of an epoch, from host-side sizes."""
    rows = phase.stream.numel()
    if phase.memory == "concat":
        store = memory_store(method)
        rows += len(store) if store is not None else 0
    if drop and rows > batch_size:
        return rows // batch_size
    return -(-rows // batch_size) if rows else 0


def gather(ctx: RunContext, method: Method, stream_idx: torch.Tensor, memory_slots: torch.Tensor) -> Batch:
    """Gather uint8 rows from the task data and the memory, then augment the whole batch.

    Stream rows come first, memory rows after them (`Batch.stream_rows` says where they start)."""
    data = ctx.dataset.train
    # index_select: a row gather ~10x faster than advanced indexing on CPU (an encoded split decodes).
    raw, cropped = ctx.feed.rows(stream_idx)
    shown = raw  # an encoded split's stream rows come RandomResizedCrop-ed: memory rows are cropped to match
    labels = data.labels.index_select(0, stream_idx)
    indices = stream_idx
    extras: dict[str, torch.Tensor] = {}
    if memory_slots.numel():
        store = memory_store(method)
        memory_rows = store.gather(memory_slots)
        shown = torch.cat([raw, ctx.augmenter.resized_crop(memory_rows) if cropped else memory_rows])
        raw = torch.cat([raw, memory_rows])
        labels = torch.cat([labels, store.labels.index_select(0, memory_slots)])
        extras = {name: column.index_select(0, memory_slots) for name, column in store.extras.items()}
        indices = torch.cat([stream_idx, memory_slots])
    stream_rows = stream_idx.numel()
    from_memory = _membership(stream_rows, raw.shape[0], ctx.device)
    images = ctx.augmenter.train(shown, cropped=cropped)
    if ctx.config.train.channels_last and images.shape[1] > 1:
        images = images.contiguous(memory_format=torch.channels_last)
    mix = ctx.augmenter.mix(images, labels)  # augment.cutmix: the one place any method's batch gets mixed
    if mix is not None and not mix.applied:
        mix = None
    return Batch(images=images if mix is None else mix.images, labels=labels, raw=raw, from_memory=from_memory,
                 indices=indices, extras=extras, mix=mix, stream_rows=stream_rows)


@functools.lru_cache(maxsize=64)
def _membership(stream_rows: int, rows: int, device: torch.device) -> torch.Tensor:
    """The from_memory mask of a batch whose first `stream_rows` of `rows` rows are stream rows.

    Batches repeat a handful of layouts, so the mask is made once per layout and shared
    (read-only, like every Batch field)."""
    mask = torch.zeros(rows, dtype=torch.bool, device=device)
    mask[stream_rows:] = True
    return mask


def epoch_batches(ctx: RunContext, method: Method, phase: Phase, batch_size: int, drop: bool):
    """Yield (stream indices, memory slots, complete) for one epoch of a phase.

    The epoch's order is drawn and laid out at once on the host and copied to the device in
    one transfer; a step only slices it. Memory minibatches ("batch" phases) are drawn per
    step, from the memory as it is at that step (streaming memories grow during the epoch).
    `complete` is False for a last batch with fewer rows than `batch_size` (of stream rows, in
    a "batch" phase), which `drop` leaves out when the epoch has a complete one
    (engine/short_batches.py)."""
    g = ctx.generator
    device = ctx.dataset.train.images.device
    stream = phase.stream.to("cpu")
    store = memory_store(method)
    if phase.memory == "concat":
        memory_size = len(store) if store is not None else 0
        order = torch.randperm(stream.numel() + memory_size, generator=g, device="cpu")
        pool = list(_split_pool(order, stream, batch_size, device, drop))
        ctx.feed.plan([stream_idx for stream_idx, _, _ in pool])  # an encoded split decodes ahead
        yield from pool
        return
    order = torch.randperm(stream.numel(), generator=g, device="cpu")
    empty = torch.empty(0, dtype=torch.long, device=device)
    stream_chunks = list(chunks(to_device(stream[order], device), batch_size, drop))
    ctx.feed.plan(stream_chunks)
    for chunk in stream_chunks:
        complete = chunk.numel() == batch_size
        memory_size = len(store) if store is not None and phase.memory == "batch" else 0
        if memory_size > 0 and phase.memory_batch_size > 0:
            take = min(phase.memory_batch_size, memory_size)
            slots = torch.randperm(memory_size, generator=g, device="cpu")[:take]
            yield chunk, to_device(slots, device), complete
        else:
            yield chunk, empty, complete


def _split_pool(order: torch.Tensor, stream: torch.Tensor, batch_size: int, device: torch.device, drop: bool):
    """Cut a shuffled pool (positions 0..n-1 are stream rows, n.. are memory slots) into
    batches of (stream indices, memory slots, complete), each part in pool order.

    One stable sort on the host puts every batch's stream rows before its memory rows, so
    the whole epoch is one index tensor on the device and each batch is two slices of it
    (no boolean masks per step: on a GPU they would wait for the device)."""
    pool, n = order.numel(), stream.numel()
    if pool == 0:
        return
    is_memory = order >= n
    batch_of = torch.arange(pool) // batch_size
    layout = torch.argsort(batch_of * 2 + is_memory, stable=True)
    picked = order[layout]
    values = picked - n  # memory slots
    if n:
        values = torch.where(is_memory[layout], values, stream[picked.clamp(max=n - 1)])
    stream_counts = torch.bincount(batch_of[~is_memory], minlength=int(batch_of[-1]) + 1).tolist()
    values = to_device(values, device)
    starts = range(0, pool, batch_size)
    if drop and pool > batch_size and pool % batch_size:
        starts = starts[:-1]
    for start, stream_rows in zip(starts, stream_counts):
        chunk = values[start : start + batch_size]
        yield chunk[:stream_rows], chunk[stream_rows:], chunk.numel() == batch_size
