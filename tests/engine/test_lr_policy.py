"""Learning-rate policies against their formulas (Caffe's float32 rounding is checked
bit for bit by the golden solver cases), and the errors for bad policies."""
import math

import numpy as np
import pytest

from torchcaffe.engine.lr_policy import learning_rate
from torchcaffe.errors import SolverError
from torchcaffe.proto import caffe_pb2

FORMULAS = {
    'fixed': ({}, lambda it: 1.0),
    'step': ({'gamma': 0.5, 'stepsize': 5}, lambda it: 0.5 ** (it // 5)),
    'exp': ({'gamma': 0.9}, lambda it: 0.9 ** it),
    'inv': ({'gamma': 0.1, 'power': 0.75}, lambda it: (1 + 0.1 * it) ** -0.75),
    'multistep': ({'gamma': 0.5, 'stepvalue': [3, 7, 12]},
                  lambda it: 0.5 ** sum(it >= s for s in (3, 7, 12))),
    'poly': ({'power': 0.9, 'max_iter': 30}, lambda it: (1 - it / 30) ** 0.9),
    'sigmoid': ({'gamma': 0.3, 'stepsize': 10}, lambda it: 1 / (1 + math.exp(-0.3 * (it - 10)))),
}


def solver_param(policy, base_lr=0.01, **fields):
    param = caffe_pb2.SolverParameter(lr_policy=policy, base_lr=base_lr)
    for key, value in fields.items():
        if isinstance(value, list):
            getattr(param, key).extend(value)
        else:
            setattr(param, key, value)
    return param


@pytest.mark.parametrize('policy', sorted(FORMULAS))
def test_policy_follows_formula(policy):
    fields, formula = FORMULAS[policy]
    param = solver_param(policy, **fields)
    step = 0
    for it in range(30):
        rate, step = learning_rate(param, it, step)
        assert isinstance(rate, np.float32)
        expected = np.float32(0.01) * formula(it)
        assert rate == pytest.approx(expected, rel=2e-6), (it, rate, expected)


def test_step_policies_track_current_step():
    param = solver_param('step', gamma=0.1, stepsize=4)
    assert learning_rate(param, 9, 0)[1] == 2
    param = solver_param('multistep', gamma=0.1, stepvalue=[2, 3])
    # Caffe's multistep moves at most one step per call, even past several step values.
    assert learning_rate(param, 5, 0)[1] == 1
    assert learning_rate(param, 5, 1)[1] == 2
    assert learning_rate(param, 5, 2)[1] == 2
    assert learning_rate(param, 1, 0)[1] == 0


def test_unknown_policy_names_policy_and_file():
    with pytest.raises(SolverError, match=r"my/solver.prototxt: unknown lr_policy 'cosine'"):
        learning_rate(solver_param('cosine'), 0, 0, 'my/solver.prototxt')
    with pytest.raises(SolverError, match=r"unknown lr_policy ''"):
        learning_rate(caffe_pb2.SolverParameter(base_lr=0.1), 0, 0)


@pytest.mark.parametrize('policy, fields, field', [
    ('step', {'gamma': 0.1}, 'stepsize'),
    ('step', {'gamma': -0.1, 'stepsize': 2}, 'gamma'),
    ('sigmoid', {'gamma': -0.5, 'stepsize': 2}, 'gamma'),
    ('sigmoid', {'gamma': 0.5}, 'stepsize'),
    ('exp', {'gamma': -1.0}, 'gamma'),
])
def test_bad_policy_settings_are_named(policy, fields, field):
    with pytest.raises(SolverError, match="lr_policy '%s' needs %s" % (policy, field)):
        learning_rate(solver_param(policy, **fields), 0, 0, 'solver.prototxt')
