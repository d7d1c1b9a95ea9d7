#!/usr/bin/env python3
"""Small TorchScript modules for bench_devices (scripts/gpu-check.sh), saved with the torch the
library is built against, so that they load in its LibTorch. Every tensor a module makes is on
its inputs' device, so the same file runs on cpu and cuda.

- fill_tiny.pt (lama contract): the hole becomes grey; costs nothing, so what is timed is the
  library's work around the model (conversion, padding, copies to and from the device);
- fill_conv.pt (lama contract): four 3x3 convolutions, 16 channels wide, with fixed weights:
  enough arithmetic that the device matters;
- sam_encoder.pt / sam_decoder.pt (sam contract): 16x average pooling as the embedding; three
  discs around the first point as the logits, with fixed scores.

Usage: python3 bench/make_device_models.py OUT_DIR
"""
import sys
from pathlib import Path
from typing import Dict

import torch
import torch.nn.functional as F


class FillTiny(torch.nn.Module):
    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return image * (1.0 - mask) + mask * 0.5


class FillConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(11)
        self.w_in = torch.nn.Parameter(torch.randn(16, 4, 3, 3, generator=g) * 0.1, requires_grad=False)
        self.w_mid = torch.nn.Parameter(torch.randn(2, 16, 16, 3, 3, generator=g) * 0.05, requires_grad=False)
        self.w_out = torch.nn.Parameter(torch.randn(3, 16, 3, 3, generator=g) * 0.05, requires_grad=False)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.conv2d(torch.cat([image, mask], 1), self.w_in, padding=1))
        x = F.relu(F.conv2d(x, self.w_mid[0], padding=1))
        x = F.relu(F.conv2d(x, self.w_mid[1], padding=1))
        fill = torch.sigmoid(F.conv2d(x, self.w_out, padding=1))
        return image * (1.0 - mask) + fill * mask


class SamEncoder(torch.nn.Module):
    def forward(self, image: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"image_embeddings": F.avg_pool2d(image, 16)}


class SamDecoder(torch.nn.Module):
    def forward(self, features: Dict[str, torch.Tensor], point_coords: torch.Tensor, point_labels: torch.Tensor,
                mask_input: torch.Tensor, has_mask_input: torch.Tensor):
        grid = torch.arange(256, dtype=torch.float32, device=point_coords.device) + 0.5
        cx = point_coords[0, 0, 0] / 4.0
        cy = point_coords[0, 0, 1] / 4.0
        d = torch.sqrt((grid.view(1, 256) - cx) ** 2 + (grid.view(256, 1) - cy) ** 2)
        radii = torch.tensor([20.0, 40.0, 80.0], device=point_coords.device).view(3, 1, 1)
        scores = torch.tensor([[0.5, 0.9, 0.7]], device=point_coords.device)
        return (radii / 4.0 - d.unsqueeze(0)).unsqueeze(0), scores


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for name, module in [("fill_tiny", FillTiny()), ("fill_conv", FillConv()),
                         ("sam_encoder", SamEncoder()), ("sam_decoder", SamDecoder())]:
        torch.jit.script(module.eval()).save(str(out / (name + ".pt")))
    print(f"make_device_models: 4 modules in {out} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
