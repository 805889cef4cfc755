"""Caffe's learning-rate policies (SGDSolver::GetLearningRate), rounded like Caffe.

Caffe keeps the solver's reals as float and computes the rate with C++'s
overloads: float arithmetic, ``pow(float, float)`` and ``exp(float)`` in float,
``pow(float, int)`` promoted to double. The functions below take the same steps
(``_powf``, ``_expf``, ``_powi``) and round to float32 where Caffe does, so
``solver.lr`` equals Caffe's to the bit (checked against the golden cases).
"""
import math

import numpy as np

from ..errors import SolverError

f32 = np.float32


def _powf(x, y):
    """std::pow(float, float): a float result."""
    return f32(math.pow(float(x), float(y)))


def _expf(x):
    return f32(math.exp(float(x)))


def _powi(x, n):
    """std::pow(float, int): computed, and returned, in double."""
    return math.pow(float(x), n)


def learning_rate(param, it, current_step, source='<solver>'):
    """``(rate, current_step)`` at iteration ``it`` for SolverParameter ``param``.

    ``current_step`` is Caffe's counter of the step and multistep policies: step
    recomputes it, multistep advances it by at most one per call (as Caffe does,
    so every call counts, pycaffe's ``solver.lr`` included).
    """
    policy = param.lr_policy
    rule = _POLICIES.get(policy)
    if rule is None:
        raise SolverError("%s: unknown lr_policy '%s' (known: %s)"
                          % (source, policy, ', '.join(sorted(_POLICIES))))
    for field, ok, what in _CHECKS.get(policy, ()):
        if not ok(getattr(param, field)):
            raise SolverError("%s: lr_policy '%s' needs %s %s (it is %s)"
                              % (source, policy, field, what, getattr(param, field)))
    return rule(param, it, current_step)


def _fixed(p, it, step):
    return f32(p.base_lr), step


def _step(p, it, step):
    step = it // p.stepsize
    return f32(float(f32(p.base_lr)) * _powi(f32(p.gamma), step)), step


def _exp(p, it, step):
    return f32(float(f32(p.base_lr)) * _powi(f32(p.gamma), it)), step


def _inv(p, it, step):
    base = f32(1) + f32(p.gamma) * f32(it)
    return f32(p.base_lr) * _powf(base, -f32(p.power)), step


def _multistep(p, it, step):
    if step < len(p.stepvalue) and it >= p.stepvalue[step]:
        step += 1
    return f32(float(f32(p.base_lr)) * _powi(f32(p.gamma), step)), step


def _poly(p, it, step):
    base = f32(1) - f32(it) / f32(p.max_iter)
    return f32(p.base_lr) * _powf(base, f32(p.power)), step


def _sigmoid(p, it, step):
    x = -f32(p.gamma) * (f32(it) - f32(p.stepsize))
    return f32(p.base_lr) * (f32(1) / (f32(1) + _expf(x))), step


_POLICIES = {'fixed': _fixed, 'step': _step, 'exp': _exp, 'inv': _inv,
             'multistep': _multistep, 'poly': _poly, 'sigmoid': _sigmoid}

# Caffe's CHECKs on the policy's settings: (field, test, requirement).
_POSITIVE = (lambda v: v > 0, '> 0')
_NONNEGATIVE = (lambda v: v >= 0, '>= 0')
_CHECKS = {
    'step': [('stepsize',) + _POSITIVE, ('gamma',) + _NONNEGATIVE],
    'exp': [('gamma',) + _NONNEGATIVE],
    'inv': [('gamma',) + _NONNEGATIVE],
    'multistep': [('gamma',) + _NONNEGATIVE],
    'sigmoid': [('gamma',) + _NONNEGATIVE, ('stepsize',) + _POSITIVE],
}
