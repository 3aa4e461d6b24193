"""torchvision's detection ops (nms, roi_align) for torch's CPU build.

The torchvision wheel's compiled operators are built against the CUDA build of torch and do not
load with the CPU build (zoo.import_torchvision), so the detection models cannot be exported. This
module defines `torchvision::nms` and `torchvision::roi_align` with plain PyTorch implementations
(enough to trace a model and compute its outputs while exporting) and registers torchvision's own
ONNX conversions for them (NonMaxSuppression, RoiAlign).

    import torchvision_ops; torchvision_ops.install()
"""
import torch

_lib = None


def _nms(boxes, scores, iou_threshold):
    order = torch.argsort(scores, descending=True, stable=True)
    keep = []
    suppressed = torch.zeros(boxes.shape[0], dtype=torch.bool)
    areas = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        lt = torch.maximum(boxes[i, :2], boxes[:, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(dim=1)
        iou = inter / (areas[i] + areas - inter)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.int64)


def _roi_align(x, rois, spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned):
    """Average RoIAlign by bilinear samples (values only matter for tracing)."""
    n_rois = rois.shape[0]
    out = x.new_zeros((n_rois, x.shape[1], pooled_height, pooled_width))
    h, w = x.shape[2], x.shape[3]
    offset = 0.5 if aligned else 0.0
    for r in range(n_rois):
        b = int(rois[r, 0])
        x1, y1, x2, y2 = (rois[r, 1:] * spatial_scale - offset).tolist()
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        gh = sampling_ratio if sampling_ratio > 0 else max(int(-(-rh // pooled_height)), 1)
        gw = sampling_ratio if sampling_ratio > 0 else max(int(-(-rw // pooled_width)), 1)
        ys = y1 + (torch.arange(pooled_height * gh, dtype=x.dtype) + 0.5) * rh / (pooled_height * gh)
        xs = x1 + (torch.arange(pooled_width * gw, dtype=x.dtype) + 0.5) * rw / (pooled_width * gw)
        yy = ys.clamp(0, h - 1)
        xx = xs.clamp(0, w - 1)
        y0, x0 = yy.floor().long(), xx.floor().long()
        y1i, x1i = (y0 + 1).clamp(max=h - 1), (x0 + 1).clamp(max=w - 1)
        ly, lx = (yy - y0)[:, None], (xx - x0)[None, :]
        f = x[b]
        v = (f[:, y0][:, :, x0] * (1 - ly) * (1 - lx) + f[:, y0][:, :, x1i] * (1 - ly) * lx
             + f[:, y1i][:, :, x0] * ly * (1 - lx) + f[:, y1i][:, :, x1i] * ly * lx)
        out[r] = v.reshape(x.shape[1], pooled_height, gh, pooled_width, gw).mean(dim=(2, 4))
    return out


def _has_ops() -> bool:
    """torchvision's check for its compiled ops (scripted while exporting): they exist now."""
    return True


def install():
    global _lib
    if _lib is not None:
        return
    if hasattr(torch.ops.torchvision, "nms"):
        return  # torchvision's compiled ops loaded
    _lib = torch.library.Library("torchvision", "DEF")
    _lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _lib.impl("nms", _nms, "CPU")
    _lib.define("roi_align(Tensor input, Tensor rois, float spatial_scale, SymInt pooled_height, SymInt pooled_width, "
                "int sampling_ratio, bool aligned) -> Tensor")
    _lib.impl("roi_align", _roi_align, "CPU")
    import sys
    import torchvision.ops  # noqa: F401 (loads the modules that imported the check)
    for name, module in list(sys.modules.items()):
        if name.startswith("torchvision") and hasattr(module, "_has_ops"):
            module._has_ops = _has_ops
    from torchvision.ops import _register_onnx_ops
    _register_onnx_ops._register_custom_op()
