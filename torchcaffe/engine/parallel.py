"""Data-parallel training over processes with torch.distributed, as Caffe's multi-GPU.

Launched by ``torchrun`` (which sets RANK, WORLD_SIZE, LOCAL_RANK): every process
runs its own solver and its own data layer instance on its own share of the data;
after each iteration's forward/backward passes the parameter gradients are summed
over the processes and scaled by 1 / world size (Caffe's NCCL reduction), then each
process applies the same update. So N processes with batch 1 take the step that
one process takes with ``iter_size: N`` over the same N images.
"""
import os

import torch
import torch.distributed as dist


def world():
    """(rank, world size) from torchrun's environment; (0, 1) outside it."""
    return int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))


def start(gpu):
    """Join the process group: NCCL between GPUs, gloo on CPUs. Returns the local rank."""
    if not dist.is_initialized():
        dist.init_process_group('nccl' if gpu else 'gloo')
    return int(os.environ.get('LOCAL_RANK', 0))


def broadcast_params(net, src=0):
    """Give every process the parameters of process ``src`` (same start for all)."""
    for blob in net.learnable_params:
        data = blob.tdata
        dist.broadcast(data, src)
        blob.tdata = data


class GradientAverage:
    """A solver ``on_gradients_ready`` callback: average the diffs over the processes."""

    def __init__(self, net):
        self.params = net.learnable_params

    def __call__(self):
        diffs = [p.tdiff for p in self.params]
        flat = torch.cat([d.reshape(-1) for d in diffs])  # one collective, not one per blob
        dist.all_reduce(flat)
        flat *= 1.0 / dist.get_world_size()
        offset = 0
        for p, d in zip(self.params, diffs):
            p.tdiff = flat[offset:offset + d.numel()].view_as(d).clone()
            offset += d.numel()


def attach(solver):
    """Make ``solver`` one replica of a data-parallel run: same start, averaged gradients."""
    broadcast_params(solver.net)
    solver.add_callback(lambda: None, GradientAverage(solver.net))
    if dist.get_rank() != 0:
        solver.param.display = 0  # like Caffe, only the root solver logs
