"""Solver settings of the released FCNs."""
from torchcaffe.proto import caffe_pb2


def sgd(train_net, test_net, test_iter, base_lr, max_iter=100000, snapshot=4000,
        momentum=0.99, iter_size=1):
    """SGD at a fixed rate; by default FCN's heavy learning (batch 1, momentum 0.99).

    Net paths are relative to the experiment directory. The test net is made but the
    solver never runs it (test_interval is out of reach): solve.py scores instead.
    ``snapshot`` 0 writes no snapshots.
    """
    solver = caffe_pb2.SolverParameter(
        train_net=train_net, test_net=[test_net], test_iter=[test_iter],
        test_interval=999999999, test_initialization=False, display=20, average_loss=20,
        lr_policy='fixed', base_lr=base_lr, momentum=momentum, iter_size=iter_size,
        max_iter=max_iter, weight_decay=0.0005)
    if snapshot:
        solver.snapshot = snapshot
        solver.snapshot_prefix = 'snapshot/train'
    return solver
