"""Exports a broader benchmark set than the ten zoo CNNs to ONNX, on demand (seeded default weights).

Architectures whose time goes elsewhere than in plain convolutions: a ViT and a BERT-base-shaped
transformer encoder (attention, LayerNorm, GELU, MatMul on batched heads), Swin (windowed
attention), ConvNeXt (depthwise 7×7, LayerNorm), EfficientNet-B3 and V2-S (squeeze-excitation,
SiLU), and two segmentation heads (DeepLabV3 and LR-ASPP on MobileNetV3: dilated convolutions,
bilinear Resize). All from torch and torchvision, exported with the legacy exporter at opset 17,
batch dynamic. Too large to commit: written to ModelZoo/generated/broader/.

    python3 ModelZoo/scripts/make_broader.py [--models vit_b_16,...]
    python3 Benchmarks/compare_onnxruntime.py --model-dir ModelZoo/generated/broader --models vit_b_16,...
"""
import argparse
import os

import torch

import zoo

VISION = {
    # name: (builder in torchvision.models, input side)
    "vit_b_16": ("vit_b_16", 224),
    "swin_t": ("swin_t", 224),
    "convnext_tiny": ("convnext_tiny", 224),
    "efficientnet_b3": ("efficientnet_b3", 300),
    "efficientnet_v2_s": ("efficientnet_v2_s", 384),
}
SEGMENTATION = {
    "deeplabv3_mobilenet_v3_large": 520,
    "lraspp_mobilenet_v3_large": 520,
}
ENCODER = "bert_base_encoder"
ALL = list(VISION) + list(SEGMENTATION) + [ENCODER]


class SegmentationOut(torch.nn.Module):
    """The segmentation model's 'out' map alone (torchvision returns a dict)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


class Encoder(torch.nn.Module):
    """BERT-base's encoder stack: 12 post-norm layers, width 768, 12 heads, feed-forward 3072, GELU,
    over embeddings [batch, 128, 768] (no mask)."""

    def __init__(self):
        super().__init__()
        layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0, activation="gelu", batch_first=True)
        self.stack = torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)
        # The stack deep-copies one layer; drawn afresh, the twelve differ (and the exporter does
        # not fold identical initializers into one).
        for p in self.stack.parameters():
            if p.dim() > 1:
                torch.nn.init.xavier_uniform_(p)

    def forward(self, x):
        return self.stack(x)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(ALL))
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    torchvision = zoo.import_torchvision()
    out_dir = os.path.join(zoo.GENERATED, "broader")
    os.makedirs(out_dir, exist_ok=True)
    for name in args.models.split(","):
        torch.manual_seed(0)
        if name in VISION:
            builder, side = VISION[name]
            model = getattr(torchvision.models, builder)(weights=None).eval()
            x = torch.randn(1, 3, side, side)
        elif name in SEGMENTATION:
            side = SEGMENTATION[name]
            model = SegmentationOut(getattr(torchvision.models.segmentation, name)(weights=None, weights_backbone=None).eval()).eval()
            x = torch.randn(1, 3, side, side)
        elif name == ENCODER:
            model = Encoder().eval()
            x = torch.randn(1, 128, 768)
        else:
            raise SystemExit(f"unknown model {name}: one of {', '.join(ALL)}")
        path = os.path.join(out_dir, name + ".onnx")
        # Not under no_grad: there, eval-mode attention takes PyTorch's fused fast path
        # (aten::_native_multi_head_attention), which the exporter cannot write.
        torch.onnx.export(
            model, (x,), path, dynamo=False, opset_version=args.opset, input_names=["input"], output_names=["output"],
            dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}},
        )
        print(f"exported {name} ({os.path.getsize(path) / 1e6:.0f} MB, input {list(x.shape)})", flush=True)


if __name__ == "__main__":
    main()
