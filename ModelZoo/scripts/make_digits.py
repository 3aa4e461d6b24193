"""Trains a small CNN on scikit-learn's bundled digits data set and exports it to ONNX.

The result is the ModelZoo's default model: trained weights and real labelled samples, so that
accuracy (not only agreement with another runtime) can be shown. Deterministic: seeded, one thread.
"""
import os

import numpy as np
import torch
from sklearn.datasets import load_digits

import zoo

torch.manual_seed(0)
torch.set_num_threads(1)
np.random.seed(0)

digits = load_digits()
x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]  # [N, 1, 8, 8], values in [0, 1]
y = digits.target.astype(np.int64)
order = np.random.permutation(len(x))
x, y = x[order], y[order]
n_test = 360
x_train, y_train = torch.from_numpy(x[n_test:]), torch.from_numpy(y[n_test:])
x_test, y_test = x[:n_test], y[:n_test]


class DigitsCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.BatchNorm2d(16), torch.nn.ReLU(),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.BatchNorm2d(32), torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        )
        self.classifier = torch.nn.Linear(64, 10)

    def forward(self, images):
        return self.classifier(self.features(images))


model = DigitsCNN()
opt = torch.optim.Adam(model.parameters(), lr=3e-3)
for epoch in range(40):
    model.train()
    perm = torch.randperm(len(x_train))
    for i in range(0, len(perm), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
        loss.backward()
        opt.step()
model.eval()
with torch.no_grad():
    acc = (model(torch.from_numpy(x_test)).argmax(1).numpy() == y_test).mean()
print(f"digits_cnn test accuracy (PyTorch): {acc:.4f}")

root = zoo.ZOO
os.makedirs(os.path.join(root, "models"), exist_ok=True)
model_file = "models/digits_cnn.onnx"
torch.onnx.export(
    model, (torch.from_numpy(x_test[:1]),), os.path.join(root, model_file), dynamo=False, opset_version=17,
    input_names=["images"], output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
)
test_path = os.path.join(root, "data", "digits_test.npz")
os.makedirs(os.path.dirname(test_path), exist_ok=True)
np.savez(test_path, images=x_test, labels=y_test)
ort_logits = zoo.ort_run(os.path.join(root, model_file), {"images": x_test})["logits"]
ort_acc = float((ort_logits.argmax(1) == y_test).mean())
print(f"digits_cnn test accuracy (onnxruntime): {ort_acc:.4f}")
entry = zoo.write_entry(
    root, "digits_cnn", model_file, {"images": x_test[:8]}, opset=17,
    extra={
        "labelled_data": {"file": "data/digits_test.npz", "input": "images", "labels": "labels"},
        "reference_accuracy": round(ort_acc, 4),
        "description": "CNN trained on scikit-learn's digits (8x8 grey images, 10 classes); 360 held-out labelled samples",
    },
)
zoo.update_manifest(root, [entry], default="digits_cnn")
