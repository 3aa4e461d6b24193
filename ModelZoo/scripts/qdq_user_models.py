#!/usr/bin/env python3
"""QDQ models made as a new user would make them, and onnxruntime's literal runs of them.

resnet18 and mobilenet_v2 (torchvision, default initialisation, seed 0) have their BatchNorm
statistics re-estimated on seeded smooth images (train mode, cumulative averages), are exported at
opset 17, pre-processed by onnxruntime's `quant_pre_process`, and quantized by `quantize_static`
(QDQ format, per-channel, symmetric int8 activations and weights, MinMax, 16 calibration images).
For each, writes under OUT/<model>/: model.onnx (the QDQ model), inputs.npz (one image),
ort_all.npz (onnxruntime's run with graph optimizations off on one thread, every tensor marked),
and samples.npz / ort_logits.npz (16 other images and onnxruntime's logits for them).

    python3 ModelZoo/scripts/qdq_user_models.py OUT [--models resnet18,mobilenet_v2]
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import zoo  # noqa: E402


def build(name, rng, size):
    import torch

    torchvision = zoo.import_torchvision()
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the batches seen
    model.train()
    with torch.no_grad():
        for _ in range(8):
            x = np.stack([zoo.smooth_image(rng, (3, size, size), eps=1e-6) for _ in range(8)])
            model(torch.from_numpy(x))
    return model.eval()


def literal_session(model_bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--models", default="resnet18,mobilenet_v2")
    ap.add_argument("--size", type=int, default=224)
    args = ap.parse_args()
    import onnx
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self, data):
            self.items = iter([{"input": x[None]} for x in data])

        def get_next(self):
            return next(self.items, None)

    for name in args.models.split(","):
        rng = np.random.default_rng(11)
        out = os.path.join(args.out, name)
        os.makedirs(out, exist_ok=True)
        model = build(name, rng, args.size)
        fp32 = os.path.join(out, "fp32.onnx")
        torch.onnx.export(model, (torch.zeros(1, 3, args.size, args.size),), fp32, dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"])
        pre = os.path.join(out, "pre.onnx")
        quant_pre_process(fp32, pre)
        calibration = [zoo.smooth_image(rng, (3, args.size, args.size), eps=1e-6) for _ in range(16)]
        qdq = os.path.join(out, "model.onnx")
        quantize_static(pre, qdq, Reader(calibration), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True})
        x = zoo.smooth_image(rng, (1, 3, args.size, args.size), eps=1e-6)
        np.savez(os.path.join(out, "inputs.npz"), input=x)
        m = zoo.mark_all(onnx.load(qdq))
        s = literal_session(m.SerializeToString())
        names = [o.name for o in s.get_outputs()]
        np.savez(os.path.join(out, "ort_all.npz"), **dict(zip(names, s.run(names, {"input": x}))))
        samples = np.stack([zoo.smooth_image(rng, (3, args.size, args.size), eps=1e-6) for _ in range(16)])
        np.savez(os.path.join(out, "samples.npz"), input=samples)
        s = literal_session(onnx.load(qdq).SerializeToString())
        logits = np.concatenate([s.run(None, {"input": samples[i:i + 1]})[0] for i in range(len(samples))])
        np.savez(os.path.join(out, "ort_logits.npz"), logits=logits)
        print(f"{name}: {len(onnx.load(qdq).graph.node)} nodes, {len(names)} tensors marked", flush=True)


if __name__ == "__main__":
    main()
