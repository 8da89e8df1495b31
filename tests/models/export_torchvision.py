#!/usr/bin/python3
"""Exports torchvision CNNs to ONNX with PyTorch, plus a seeded input and PyTorch's own output.

Weights are random (seeded; nothing is downloaded) with randomised BatchNorm statistics so that
BN folding is exercised. For each model NAME it writes NAME.onnx, NAME.input.npy, NAME.torch.npy.

  /usr/bin/python3 tests/models/export_torchvision.py --out DIR mobilenet_v2 resnet18 ...
"""
import argparse
import os
import sys

import numpy as np
import torch
import torchvision


def build(name):
    torch.manual_seed(0)
    kwargs = {"weights": None}
    model = getattr(torchvision.models, name)(**kwargs)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)
    return model.eval()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", type=int, default=224, help="input height and width")
    parser.add_argument("--opset", type=int, default=13)
    parser.add_argument("--dynamic-batch", action="store_true", help="export the batch dim as symbolic")
    parser.add_argument("models", nargs="+")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for name in args.models:
        model = build(name)
        x = torch.randn(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            y = model(x)
        path = os.path.join(args.out, name + ".onnx")
        dynamic = {"input": {0: "batch"}, "output": {0: "batch"}} if args.dynamic_batch else None
        torch.onnx.export(model, x, path, opset_version=args.opset, input_names=["input"],
                          output_names=["output"], dynamic_axes=dynamic)
        np.save(os.path.join(args.out, name + ".input.npy"), x.numpy())
        np.save(os.path.join(args.out, name + ".torch.npy"), y.numpy())
        print(f"exported {name} -> {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
