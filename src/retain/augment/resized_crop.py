"""RandomResizedCrop and the evaluation centre view, as boxes: sampled per sample, applied later.

A box is (top, left, height, width) in pixels of the source image. Training boxes follow the
rule of torchvision's RandomResizedCrop (written here from its definition): up to 10 tries of
an area fraction s ~ U[scale] and a log-uniform aspect ratio r; a try gives a box of width
round(√(s·A·r)) and height round(√(s·A/r)), accepted when it fits, at a uniform position; when
no try fits, the whole image cropped to the nearest allowed aspect ratio, centred. All tries of
all samples are drawn at once (the draws of a batch are a fixed number per sample).

The boxes are cut out and resized to side×side either on the device from a uint8 batch
(`resized_crop`: in-memory datasets and memory rows) or while decoding (the encoded dataset).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

TRIES = 10


def crop_boxes(
    heights: torch.Tensor,
    widths: torch.Tensor,
    generator: torch.Generator,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """(N, 4) int64 boxes (top, left, height, width) for images of the given sizes (CPU tensors)."""
    n = heights.numel()
    h_img, w_img = heights.reshape(n, 1).double(), widths.reshape(n, 1).double()
    draws = torch.rand((n, TRIES, 4), generator=generator, device=generator.device, dtype=torch.float64).cpu()
    area = h_img * w_img * (scale[0] + (scale[1] - scale[0]) * draws[..., 0])
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(log_low + (log_high - log_low) * draws[..., 1])
    w = torch.round(torch.sqrt(area * aspect))
    h = torch.round(torch.sqrt(area / aspect))
    fits = (w > 0) & (h > 0) & (w <= w_img) & (h <= h_img)
    first = torch.where(fits.any(dim=1), fits.double().argmax(dim=1), torch.full((n,), -1, dtype=torch.long))
    take = first.clamp(min=0).reshape(n, 1)
    h_pick, w_pick = h.gather(1, take)[:, 0], w.gather(1, take)[:, 0]
    # Positions: uniform integers in [0, H - h] and [0, W - w].
    top = torch.floor(draws[..., 2].gather(1, take)[:, 0] * (h_img[:, 0] - h_pick + 1))
    left = torch.floor(draws[..., 3].gather(1, take)[:, 0] * (w_img[:, 0] - w_pick + 1))
    boxes = torch.stack([top, left, h_pick, w_pick], dim=1)
    fallback = first < 0
    if fallback.any():
        boxes[fallback] = _fallback(h_img[fallback, 0], w_img[fallback, 0], ratio)
    return boxes.long()


def _fallback(h_img: torch.Tensor, w_img: torch.Tensor, ratio: tuple[float, float]) -> torch.Tensor:
    """The whole image cut to the nearest allowed aspect ratio, centred."""
    in_ratio = w_img / h_img
    low, high = min(ratio), max(ratio)
    w = torch.where(in_ratio < low, w_img, torch.where(in_ratio > high, torch.round(h_img * high), w_img))
    h = torch.where(in_ratio < low, torch.round(w_img / low), h_img)
    return torch.stack([torch.div(h_img - h, 2, rounding_mode="floor"), torch.div(w_img - w, 2, rounding_mode="floor"), h, w], dim=1)


def resized_crop(images: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """Cut each box out of a uint8 batch N×C×H×W and resize it to side×side (bilinear), one batched sample.

    Output pixel centre (x + 0.5) reads the input position left + (x + 0.5) · width / side (and
    likewise down), as PIL's resize of a box does; positions past the edge repeat the edge."""
    n, _, h, w = images.shape
    if n == 0:
        return images.new_empty((0, images.shape[1], side, side))
    boxes = boxes.to(images.device, torch.float32)
    steps = (torch.arange(side, device=images.device, dtype=torch.float32) + 0.5) / side
    ys = boxes[:, 0:1] + steps * boxes[:, 2:3]  # (N, side) input rows
    xs = boxes[:, 1:2] + steps * boxes[:, 3:4]
    grid = torch.stack([(xs / w * 2 - 1)[:, None, :].expand(n, side, side),
                        (ys / h * 2 - 1)[:, :, None].expand(n, side, side)], dim=-1)
    out = F.grid_sample(images.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.round_().clamp_(0, 255).to(torch.uint8)
