"""Data-parallel training has Caffe's multi-GPU semantics: 2 processes x batch 1 take the
same update as 1 process with iter_size 2 (CPU, gloo), bit for bit."""
import os
import subprocess
import sys

import numpy as np

import torchcaffe as caffe
from torchcaffe.formats import read_weights
from torchcaffe.io import blobproto_to_array
import random_nets
from fcn import synthetic

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(os.path.dirname(HERE), 'support', 'ddp_worker.py')


def params(path):
    return {l.name: [blobproto_to_array(b) for b in l.blobs] for l in read_weights(path).layer}


def test_two_replicas_equal_iter_size_two(tmp_path):
    data = tmp_path / 'data'
    synthetic.main(['sbd', '--out', str(data), '--n', '12', '--size', '64', '64'])
    spec = random_nets.spec(4)
    net = caffe.Net(random_nets.net_param(dict(spec, nclass=21, shape=(1, 3, 64, 64))), caffe.TEST)
    random_nets.fill(net, 4)
    start = str(tmp_path / 'start.caffemodel')
    net.save(start)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK'):
        env.pop(key, None)
    alone, replicas = str(tmp_path / 'alone.caffemodel'), str(tmp_path / 'ddp.caffemodel')
    steps = '3'
    subprocess.run([sys.executable, WORKER, str(data), '2', steps, start, alone], env=env, check=True,
                   timeout=600)
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                        WORKER, str(data), '1', steps, start, replicas], env=env, timeout=600,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    a, b, s = params(alone), params(replicas), params(start)
    moved = False
    for layer in a:
        for x, y, z in zip(a[layer], b[layer], s[layer]):
            # same images, same sums (g0 + g1) x 0.5 in the same order: bit for bit
            np.testing.assert_array_equal(y, x, err_msg=layer)
            moved |= not np.array_equal(x, z)
    assert moved  # the steps did change the weights


def test_solve_py_under_torchrun(tmp_path):
    """An experiment trains as 2 replicas; only rank 0 logs, scores and snapshots."""
    data = tmp_path / 'data'
    for dataset in ('voc', 'sbd'):
        synthetic.main([dataset, '--out', str(data), '--n', '8'])
    out = tmp_path / 'out'
    env = dict(os.environ, OMP_NUM_THREADS='1')
    r = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                        os.path.join(os.path.dirname(os.path.dirname(HERE)), 'voc-fcn32s', 'solve.py'), '--weights', 'none',
                        '--data-root', str(data), '--iters', '2', '--score-every', '2', '--display', '1',
                        '--out', str(out)], env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('iter 2  loss') == 1 and r.stdout.count('Iteration 0, lr') == 1
    assert sorted(os.listdir(out)) == ['charts', 'log.csv', 'log.jsonl', 'solver.prototxt', 'train_iter_2.caffemodel',
                                       'train_iter_2.rngstate', 'train_iter_2.solverstate',
                                       'train_iter_2.train.json']
