"""Train a small FCN for a few steps, alone or as a torchrun replica; rank 0 saves the weights.

usage: ddp_worker.py DATA_ROOT ITER_SIZE STEPS WEIGHTS_IN WEIGHTS_OUT
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path[:0] = [ROOT, os.path.dirname(os.path.abspath(__file__))]

import torchcaffe as caffe  # noqa: E402
from torchcaffe.engine import parallel  # noqa: E402
from torchcaffe.formats import prototxt  # noqa: E402
import random_nets  # noqa: E402


def main(data_root, iter_size, steps, weights_in, weights_out):
    os.environ['FCN_DATA_ROOT'] = data_root
    rank, world = parallel.world()
    if world > 1:
        parallel.start(gpu=False)
    spec = random_nets.spec(4)
    net = random_nets.net_param(dict(spec, nclass=21, shape=(1, 3, 64, 64)))
    source = net.layer[0]  # the data Input becomes the SBD training data layer
    source.Clear()
    source.name, source.type = 'data', 'Python'
    source.top.extend(['data', 'label'])
    source.python_param.module, source.python_param.layer = 'layers', 'SBDDSegDataLayer'
    source.python_param.param_str = repr(dict(sbdd_dir='sbdd/dataset', split='train', seed=7))
    del net.layer[1]  # the label Input
    work = os.path.dirname(weights_out)
    path = os.path.join(work, 'net-%d.prototxt' % rank)
    prototxt.write(path, net)
    solver_path = os.path.join(work, 'solver-%d.prototxt' % rank)
    with open(solver_path, 'w') as f:
        f.write('net: "%s"\nbase_lr: 1e-3\nlr_policy: "fixed"\nmomentum: 0.9\nweight_decay: 0.0005\n'
                'iter_size: %d\n' % (path, iter_size))
    solver = caffe.get_solver(solver_path)
    solver.net.copy_from(weights_in)
    if world > 1:
        parallel.attach(solver)
    solver.step(steps)
    if rank == 0:
        solver.net.save(weights_out)


if __name__ == '__main__':
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
