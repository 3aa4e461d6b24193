"""Small transformer encoders, a ViT and encoder-decoder CNNs exported from PyTorch, with seeded
inputs and onnxruntime's outputs (ModelZoo/nets/, committed: each model is well under 1 MB).

The networks are written here rather than taken from a model hub, so that each exercises a chosen
export path: embeddings as Gather, attention as MatMul/Softmax with padding and causal masks,
LayerNormalization (opset 17) or its decomposed form (opsets 14-16), Gelu through Erf, PyTorch's
own nn.MultiheadAttention and nn.TransformerEncoder, a patch-Conv ViT with a class token, and
U-Net-like CNNs with ConvTranspose, Resize (bilinear, nearest), InstanceNormalization and skip
Concats. Weights are seeded random values.

    python3 ModelZoo/scripts/make_nets.py            # the development set, ModelZoo/nets/
    python3 ModelZoo/scripts/make_nets.py --held-out # other sizes, seeds and opsets, written under
                                                     # ModelZoo/generated/nets-held-out/ (not committed)
"""
import argparse
import math
import os

import numpy as np
import torch
from torch import nn

import zoo


class Attention(nn.Module):
    """Multi-head self-attention written out as MatMul/Softmax, with an additive mask."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x, bias):
        b, s, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=-1)
        q, k, v = (t.reshape(b, s, self.heads, self.dh).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.dh) + bias
        y = torch.softmax(scores, dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(b, s, d))


class Block(nn.Module):
    def __init__(self, d, heads, ff, pre_norm):
        super().__init__()
        self.attn, self.pre_norm = Attention(d, heads), pre_norm
        self.n1, self.n2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ff = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Linear(ff, d))

    def forward(self, x, bias):
        if self.pre_norm:
            x = x + self.attn(self.n1(x), bias)
            return x + self.ff(self.n2(x))
        x = self.n1(x + self.attn(x, bias))
        return self.n2(x + self.ff(x))


class Bert(nn.Module):
    """BERT-like encoder: token, position and segment embeddings, padding mask, pooler."""

    def __init__(self, vocab=120, d=64, heads=4, layers=2, ff=128, max_len=32):
        super().__init__()
        self.tok, self.pos, self.seg = nn.Embedding(vocab, d), nn.Embedding(max_len, d), nn.Embedding(2, d)
        self.norm = nn.LayerNorm(d)
        self.blocks = nn.ModuleList(Block(d, heads, ff, pre_norm=False) for _ in range(layers))
        self.pool = nn.Linear(d, d)

    def forward(self, input_ids, attention_mask, token_type_ids):
        s = input_ids.shape[1]
        positions = torch.arange(s, device=input_ids.device).unsqueeze(0)
        x = self.norm(self.tok(input_ids) + self.pos(positions) + self.seg(token_type_ids))
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for blk in self.blocks:
            x = blk(x, bias)
        return x, torch.tanh(self.pool(x[:, 0]))


class Gpt(nn.Module):
    """Decoder-only (causal) encoder stack with a tied output projection; the causal mask is a
    constant buffer sliced to the sequence length."""

    def __init__(self, vocab=96, d=64, heads=4, layers=2, ff=192, max_len=32):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList(Block(d, heads, ff, pre_norm=True) for _ in range(layers))
        self.norm = nn.LayerNorm(d)
        mask = torch.full((max_len, max_len), float("-inf")).triu(1)
        self.register_buffer("causal", mask, persistent=False)

    def forward(self, input_ids):
        s = input_ids.shape[1]
        x = self.tok(input_ids) + self.pos(torch.arange(s).unsqueeze(0))
        bias = self.causal[:s, :s]
        for blk in self.blocks:
            x = blk(x, bias)
        return self.norm(x) @ self.tok.weight.t()


class TorchEncoder(nn.Module):
    """PyTorch's own nn.TransformerEncoder (pre-norm, GELU) with a boolean key padding mask. Its
    export bakes the traced batch and sequence length into Reshape shapes, so it runs at those."""

    def __init__(self, d=64, heads=4, layers=2, ff=128):
        super().__init__()
        layer = nn.TransformerEncoderLayer(d, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.proj = nn.Linear(16, d)

    def forward(self, features, padding_mask):
        return self.encoder(self.proj(features), src_key_padding_mask=padding_mask)


class Vit(nn.Module):
    """A small ViT: patch Conv, class token Concat, learned positions, pre-norm blocks, head on the class token."""

    def __init__(self, image=32, patch=4, d=64, heads=4, layers=2, ff=128, classes=10):
        super().__init__()
        self.patch = nn.Conv2d(3, d, patch, stride=patch)
        self.cls = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads, ff, pre_norm=True) for _ in range(layers))
        self.norm, self.head = nn.LayerNorm(d), nn.Linear(d, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        zero = torch.zeros(1, device=x.device)
        for blk in self.blocks:
            x = blk(x, zero)
        return self.head(self.norm(x[:, 0]))


def conv_block(cin, cout, norm):
    layers = [nn.Conv2d(cin, cout, 3, padding=1)]
    layers += [nn.InstanceNorm2d(cout, affine=True)] if norm == "instance" else [nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, nn.ReLU())


class UNet(nn.Module):
    """Encoder-decoder with skip Concats; upsampling by ConvTranspose and by Resize (bilinear or nearest)."""

    def __init__(self, base=8, classes=3, norm="instance", ups=("transpose", "bilinear", "nearest")):
        super().__init__()
        chans = [base, base * 2, base * 4, base * 8]
        self.downs = nn.ModuleList()
        cin = 3
        for c in chans:
            self.downs.append(conv_block(cin, c, norm))
            cin = c
        self.pool = nn.MaxPool2d(2)
        self.ups, self.mixes = nn.ModuleList(), nn.ModuleList()
        for i, kind in enumerate(ups):
            c_hi, c_lo = chans[-1 - i], chans[-2 - i]
            if kind == "transpose":
                self.ups.append(nn.ConvTranspose2d(c_hi, c_lo, 2, stride=2))
            else:
                align = dict(align_corners=False) if kind == "bilinear" else {}
                self.ups.append(nn.Sequential(nn.Upsample(scale_factor=2, mode=kind, **align), nn.Conv2d(c_hi, c_lo, 1)))
            self.mixes.append(conv_block(2 * c_lo, c_lo, norm))
        self.head = nn.Conv2d(chans[0], classes, 1)

    def forward(self, x):
        skips = []
        for i, down in enumerate(self.downs):
            x = down(x if i == 0 else self.pool(x))
            skips.append(x)
        for up, mix, skip in zip(self.ups, self.mixes, reversed(skips[:-1])):
            x = mix(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class Autoencoder(nn.Module):
    """Strided-conv encoder, ConvTranspose decoder with output_padding, sigmoid output."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU())
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(16), nn.LeakyReLU(0.1),
            nn.ConvTranspose2d(16, 3, 3, 2, 1, output_padding=1), nn.Sigmoid())

    def forward(self, x):
        return self.dec(self.enc(x))


def ids(rng, shape, vocab):
    return rng.integers(0, vocab, shape).astype(np.int64)


def padding(rng, batch, seq):
    """1 for real tokens, 0 for padding: each row keeps at least two tokens."""
    lengths = rng.integers(2, seq + 1, batch)
    return (np.arange(seq)[None, :] < lengths[:, None]).astype(np.int64)


def development_set():
    """(name, opset, module, example inputs, input names, output names, dynamic axes, feed sets)."""
    nets = []
    for opset in (14, 17):
        def bert_feeds(rng, batch, seq):
            return {"input_ids": ids(rng, (batch, seq), 120), "attention_mask": padding(rng, batch, seq),
                    "token_type_ids": (np.arange(seq)[None, :] >= seq // 2).repeat(batch, 0).astype(np.int64)}
        nets.append((f"bert_tiny_o{opset}", opset, Bert(), bert_feeds, (2, 12),
                     ["input_ids", "attention_mask", "token_type_ids"], ["last_hidden_state", "pooled"],
                     {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                      "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}, "pooled": {0: "batch"}},
                     [(1, 12), (3, 7)]))
    nets.append(("gpt_tiny_o15", 15, Gpt(), lambda rng, b, s: {"input_ids": ids(rng, (b, s), 96)}, (1, 16),
                 ["input_ids"], ["logits"], {"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}, [(1, 16), (2, 9)]))

    def encoder_feeds(rng, b, s):
        return {"features": rng.standard_normal((b, s, 16)).astype(np.float32), "padding_mask": padding(rng, b, s) == 0}
    nets.append(("torch_encoder_o16", 16, TorchEncoder(), encoder_feeds, (2, 10), ["features", "padding_mask"], ["encoded"],
                 {"features": {0: "batch", 1: "seq"}, "padding_mask": {0: "batch", 1: "seq"}, "encoded": {0: "batch", 1: "seq"}},
                 [(2, 10), (2, 10)]))
    nets.append(("vit_tiny_o17", 17, Vit(), lambda rng, b, s: {"image": rng.standard_normal((b, 3, 32, 32)).astype(np.float32)},
                 (1, 0), ["image"], ["logits"], {"image": {0: "batch"}, "logits": {0: "batch"}}, [(1, 0), (2, 0)]))
    for opset, norm in ((13, "instance"), (17, "batch")):
        nets.append((f"unet_small_o{opset}", opset, UNet(norm=norm),
                     lambda rng, b, s: {"image": rng.standard_normal((b, 3, 32, 40)).astype(np.float32)}, (1, 0), ["image"], ["mask"],
                     {"image": {0: "batch"}, "mask": {0: "batch"}}, [(1, 0), (2, 0)]))
    nets.append(("autoencoder_o11", 11, Autoencoder(), lambda rng, b, s: {"image": rng.standard_normal((b, 3, 24, 24)).astype(np.float32)},
                 (1, 0), ["image"], ["reconstruction"], {"image": {0: "batch"}, "reconstruction": {0: "batch"}}, [(1, 0), (3, 0)]))
    return nets


def held_out_set():
    """Networks like the development set but never used while developing: other widths, depths,
    heads, sequence lengths, opsets and seeds."""
    nets = []

    def bert_feeds(rng, batch, seq):
        return {"input_ids": ids(rng, (batch, seq), 300), "attention_mask": padding(rng, batch, seq),
                "token_type_ids": np.zeros((batch, seq), np.int64)}
    nets.append(("bert_wide_o16", 16, Bert(vocab=300, d=96, heads=6, layers=3, ff=256, max_len=64), bert_feeds, (2, 20),
                 ["input_ids", "attention_mask", "token_type_ids"], ["last_hidden_state", "pooled"],
                 {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "token_type_ids": {0: "batch", 1: "seq"},
                  "last_hidden_state": {0: "batch", 1: "seq"}, "pooled": {0: "batch"}}, [(2, 20), (1, 33)]))
    nets.append(("gpt_deep_o17", 17, Gpt(vocab=200, d=48, heads=3, layers=4, ff=96, max_len=40),
                 lambda rng, b, s: {"input_ids": ids(rng, (b, s), 200)}, (1, 24), ["input_ids"], ["logits"],
                 {"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}, [(1, 24), (2, 40)]))

    def encoder_feeds(rng, b, s):
        return {"features": rng.standard_normal((b, s, 16)).astype(np.float32), "padding_mask": padding(rng, b, s) == 0}
    nets.append(("torch_encoder_o14", 14, TorchEncoder(d=32, heads=2, layers=3, ff=64), encoder_feeds, (2, 8),
                 ["features", "padding_mask"], ["encoded"],
                 {"features": {0: "batch", 1: "seq"}, "padding_mask": {0: "batch", 1: "seq"}, "encoded": {0: "batch", 1: "seq"}},
                 [(2, 8), (2, 8)]))
    nets.append(("vit_patch8_o15", 15, Vit(image=48, patch=8, d=96, heads=4, layers=3, ff=192, classes=7),
                 lambda rng, b, s: {"image": rng.standard_normal((b, 3, 48, 48)).astype(np.float32)}, (1, 0), ["image"], ["logits"],
                 {"image": {0: "batch"}, "logits": {0: "batch"}}, [(1, 0), (2, 0)]))
    nets.append(("unet_nearest_o16", 16, UNet(base=6, classes=2, ups=("nearest", "transpose", "bilinear")),
                 lambda rng, b, s: {"image": rng.standard_normal((b, 3, 48, 32)).astype(np.float32)}, (1, 0), ["image"], ["mask"],
                 {"image": {0: "batch"}, "mask": {0: "batch"}}, [(1, 0), (2, 0)]))
    return nets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--held-out", action="store_true")
    args = ap.parse_args()
    root = os.path.join(zoo.GENERATED, "nets-held-out") if args.held_out else os.path.join(zoo.ZOO, "nets")
    os.makedirs(os.path.join(root, "models"), exist_ok=True)
    torch.backends.mha.set_fastpath_enabled(False)  # export nn.MultiheadAttention as plain ops
    entries = []
    for index, (name, opset, module, feeds_for, example, in_names, out_names, axes, feed_sets) in enumerate(
            held_out_set() if args.held_out else development_set()):
        torch.manual_seed(1000 * args.held_out + index)
        module = module.eval()
        for p in module.parameters():  # seeded weights, larger than the default init for visible errors
            p.data.copy_(torch.randn_like(p) * (0.5 / math.sqrt(max(p.shape[-1], 1))) if p.dim() > 1 else torch.randn_like(p) * 0.1)
        for mod in module.modules():  # LayerNorm/InstanceNorm/BatchNorm scales near 1
            if isinstance(mod, (nn.LayerNorm, nn.InstanceNorm2d, nn.BatchNorm2d)) and mod.weight is not None:
                mod.weight.data.add_(1.0)
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.normal_(0, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
        rng = np.random.default_rng(index)
        example_feeds = feeds_for(rng, *example)
        model_file = f"models/{name}.onnx"
        with torch.no_grad():
            torch.onnx.export(
                module, tuple(torch.from_numpy(example_feeds[k]) for k in in_names), os.path.join(root, model_file),
                dynamo=False, opset_version=opset, input_names=in_names, output_names=out_names, dynamic_axes=axes)
        for k, (batch, seq) in enumerate(feed_sets):
            entries.append(zoo.write_entry(root, f"{name}_{k}_b{batch}" + (f"_s{seq}" if seq else ""), model_file,
                                           feeds_for(rng, batch, seq), opset=opset, extra={"batch": batch}))
        print(f"exported {name} (opset {opset})", flush=True)
    zoo.update_manifest(root, entries)


if __name__ == "__main__":
    main()
