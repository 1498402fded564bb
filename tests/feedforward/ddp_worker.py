"""Run under torchrun by test_train.py: train a few steps, then save this rank's weights."""

import sys

import torch

from impasto.feedforward.train import train

data, style, out_dir = sys.argv[1:4]
result = train(style, data, f"{out_dir}/ddp.safetensors", iterations=3, batch_size=4, image_size=32,
               width=0.25, precision="fp32", device="cpu", progress=False, checkpoint_every=100)
torch.save(result.net.state_dict(), f"{out_dir}/rank{torch.distributed.get_rank()}.pt")
