"""Tiny SAM-contract modules saved with python3-torch, whose outputs are known exactly.

- encoder: 16x average pooling of the normalised input -> {"image_embeddings": [1,3,S/16,S/16]};
- disc decoder: logits r/4 - distance (in the 256 grid) around the first point, three radii (in
  model-input pixels) with known scores; with has_mask_input it returns mask_input three times;
- concept decoder: logits 1 - |feature colour - concept colour| (in normalised units), so a
  concept embedding that is a normalised RGB colour segments the regions of that colour.
"""
from pathlib import Path
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F

import inpaint

RADII = (20.0, 40.0, 80.0)  # model-input pixels
SCORES = (0.5, 0.9, 0.7)  # the 40 px disc is the best
MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


class Encoder(torch.nn.Module):
    def forward(self, image: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"image_embeddings": F.avg_pool2d(image, 16)}


class DiscDecoder(torch.nn.Module):
    def forward(self, features: Dict[str, torch.Tensor], point_coords: torch.Tensor, point_labels: torch.Tensor,
                mask_input: torch.Tensor, has_mask_input: torch.Tensor):
        if bool(has_mask_input[0] > 0.5):
            return mask_input.expand(1, 3, 256, 256).contiguous(), torch.tensor([[0.5, 0.9, 0.7]])
        grid = torch.arange(256, dtype=torch.float32) + 0.5
        cx = point_coords[0, 0, 0] / 4.0
        cy = point_coords[0, 0, 1] / 4.0
        d = torch.sqrt((grid.view(1, 256) - cx) ** 2 + (grid.view(256, 1) - cy) ** 2)
        radii = torch.tensor([20.0, 40.0, 80.0]).view(3, 1, 1)
        return (radii / 4.0 - d.unsqueeze(0)).unsqueeze(0), torch.tensor([[0.5, 0.9, 0.7]])


class ConceptDecoder(torch.nn.Module):
    def forward(self, features: Dict[str, torch.Tensor], concept: torch.Tensor):
        feats = features["image_embeddings"][0]  # [3, g, g]
        colour = concept.reshape(-1)[:3].view(3, 1, 1)
        logits = 1.0 - torch.sqrt(((feats - colour) ** 2).sum(0))
        logits = F.interpolate(logits.view(1, 1, logits.shape[0], logits.shape[1]), size=(256, 256), mode="nearest")
        score = torch.tensor([[0.9]]) if bool((logits > 0).any()) else torch.tensor([[0.1]])
        return logits, score


def normalised(rgb):
    return (np.asarray(rgb, np.float32) - MEAN) / STD


GRASS = (40, 160, 40)
LEAVES = (150, 90, 30)
OBJECT = (128, 128, 128)


def save(directory: Path):
    """Saves the modules and a concepts file (grass, leaves) into directory; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {name: directory / f"{name}.pt" for name in ("encoder", "decoder", "concept_decoder")}
    torch.jit.script(Encoder()).save(str(paths["encoder"]))
    torch.jit.script(DiscDecoder()).save(str(paths["decoder"]))
    torch.jit.script(ConceptDecoder()).save(str(paths["concept_decoder"]))
    concepts = inpaint.Encoding(model_id="concept-colours")
    concepts.add("grass", normalised(GRASS))
    concepts.add("leaves", normalised(LEAVES))
    paths["concepts"] = directory / "concepts.safetensors"
    inpaint.write_safetensors(paths["concepts"], concepts)
    return paths


def spec(paths, concepts=False):
    text = f"sam:device=cpu,encoder={paths['encoder']},decoder={paths['decoder']}"
    if concepts:
        text += f",concept_decoder={paths['concept_decoder']},concepts={paths['concepts']}"
    return text


def ground_scene(width=320, height=240, leaves_from_x=190, radius=40):
    """Grass with leaves right of leaves_from_x, a grey object disc in the middle: (image, object mask)."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = GRASS
    image[:, leaves_from_x:] = LEAVES
    y, x = np.mgrid[0:height, 0:width]
    obj = (x - width // 2) ** 2 + (y - height // 2) ** 2 <= radius ** 2
    image[obj] = OBJECT
    return image, (obj * 255).astype(np.uint8)
