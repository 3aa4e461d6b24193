#!/usr/bin/env python3
"""torchvision's detectors exported with their post-processing in the graph (boxes decoded,
NonMaxSuppression on computed scores, If and Loop from the scripted parts, RoiAlign in the
two-stage ones), with seeded weights and a seeded smooth image, written under
ModelZoo/generated/detectors/ (not committed: the larger ones are 70-170 MB) with onnxruntime's
outputs and a manifest for `touchstone verify --manifest`.

    python3 ModelZoo/scripts/make_detectors.py [--models ssdlite320,fasterrcnn_mobilenet,retinanet,maskrcnn]

CI has no torch: it fills the committed skeletons of these exports instead
(`zoo_skeletons.py fill-detectors`), the same graphs with other seeded weights.

torchvision's compiled operators do not load with torch's CPU build; torchvision_ops.py stands in
for nms and roi_align while exporting. Weights: every parameter drawn from N(0, (0.5/√fan-in)²)
(biases N(0, 0.1²)), batch norms near identity, so that scores differ from box to box and the
suppression has real work; the classification heads' parameters are scaled by 8 so that scores
spread out instead of crowding 1/classes.
"""
import argparse
import math
import os

import numpy as np
import torch

import torchvision_ops
import zoo

MODELS = {
    "ssdlite320": ("ssdlite320_mobilenet_v3_large", 320, {}),
    "fasterrcnn_mobilenet": ("fasterrcnn_mobilenet_v3_large_320_fpn", 320, {}),
    "retinanet": ("retinanet_resnet50_fpn", 320, {"min_size": 320, "max_size": 320}),
    "maskrcnn": ("maskrcnn_resnet50_fpn", 320, {"min_size": 320, "max_size": 320}),
}


def seeded(module, seed):
    torch.manual_seed(seed)
    for p in module.parameters():
        fan = max(p[0].numel(), 1) if p.dim() > 1 else 1
        p.data.copy_(torch.randn_like(p) * (0.5 / math.sqrt(fan)) if p.dim() > 1 else torch.randn_like(p) * 0.1)
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm2d,)) or type(m).__name__ == "FrozenBatchNorm2d":
            m.weight.data.add_(1.0)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    # Wider class logits: with the draws above every score sits near 1/classes, and near-ties
    # (which a last-bit difference reorders) crowd the thresholds and the suppression.
    for name, p in module.named_parameters():
        if "classification_head" in name or "cls_logits" in name or "cls_score" in name:
            p.data.mul_(8.0)
    return module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    args = ap.parse_args()
    tv = zoo.import_torchvision()
    torchvision_ops.install()
    root = os.path.join(zoo.GENERATED, "detectors")
    os.makedirs(os.path.join(root, "models"), exist_ok=True)
    entries = []
    for index, key in enumerate(args.models.split(",")):
        builder, size, extra = MODELS[key]
        model = seeded(getattr(tv.models.detection, builder)(weights=None, weights_backbone=None, num_classes=5, **extra), 5000 + index).eval()
        image = zoo.smooth_image(np.random.default_rng(5000 + index), (3, size, size))
        image = (image - image.min()) / (image.max() - image.min())  # in [0, 1], as the detectors expect
        path = os.path.join(root, "models", f"{key}_o17.onnx")
        # The order of torchvision's result dictionaries.
        two_stage = key in ("fasterrcnn_mobilenet", "maskrcnn")
        outputs = ["boxes", "labels", "scores"] if two_stage else ["boxes", "scores", "labels"]
        outputs += ["masks"] if key == "maskrcnn" else []
        with torch.no_grad():
            torch.onnx.export(model, ([torch.from_numpy(image)],), path, dynamo=False, opset_version=17, input_names=["image"],
                              output_names=outputs)
        entries.append(zoo.write_entry(root, f"{key}_o17", f"models/{key}_o17.onnx", {"image": image}, opset=17))
        print(f"exported {key}: {sum(p.numel() for p in model.parameters())} parameters", flush=True)
    zoo.update_manifest(root, entries)


if __name__ == "__main__":
    main()
