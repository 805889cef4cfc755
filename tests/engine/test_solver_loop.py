"""Solver step semantics on a tiny net against numpy references: iter_size, clipping,
regularization, lr_mult 0, test nets, display, divergence, construction errors."""
import logging
import re

import numpy as np
import pytest

import torchcaffe as caffe
from torchcaffe.errors import SolverError
import tinynet

LOGGER = 'torchcaffe.engine.solver'


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """Solver paths are relative to the working directory, as in Caffe."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def reference_gradients(solver, passes):
    """Accumulated param diffs of ``passes`` forward/backward passes of a fresh copy of the
    solver's net at its current weights (its data layer starts from the same batch)."""
    net = caffe.Net('net.prototxt', caffe.TRAIN)
    for layer, blobs in solver.net.params.items():
        for i, blob in enumerate(blobs):
            net.params[layer][i].data[...] = blob.data
    net.layers[0].count = solver.net.layers[0].count
    net.clear_param_diffs()
    for _ in range(passes):
        net._forward(0, len(net.layers) - 1)
        net._backward(len(net.layers) - 1, 0)
    return [p.diff.astype(np.float64) for p in net.learnable_params]


def weights(solver):
    return [p.data.astype(np.float64) for p in solver.net.learnable_params]


def assert_update(solver, before, expected_updates):
    """w_after == w_before - update within float32 resolution (README's tolerance)."""
    for w0, w1, u in zip(before, weights(solver), expected_updates):
        tol = 1e-4 * np.abs(u).max() + 2 * np.spacing(np.float32(np.abs(w0).max()))
        assert np.abs((w0 - w1) - u).max() <= tol


def test_iter_size_accumulates_then_normalizes(workdir):
    solver = caffe.get_solver(tinynet.write(workdir, iter_size=3))
    before = weights(solver)
    grads = reference_gradients(solver, 3)   # batches 0, 1, 2
    solver.step(1)
    assert solver.net.layers[0].count == 3
    lr, wd = np.float32(0.01), np.float32(0.0005)
    updates = [lr * lr_mult * (g / 3 + wd * decay * w)
               for g, w, lr_mult, decay in zip(grads, before, solver.net.params_lr,
                                               solver.net.params_weight_decay)]
    assert_update(solver, before, updates)


@pytest.mark.parametrize('iter_size', [1, 2])
def test_clipping_scales_the_accumulated_gradient_to_the_global_norm(workdir, iter_size):
    # Caffe clips the accumulated gradient, then normalizes: the step's norm is clip / iter_size.
    clip = 0.05
    solver = caffe.get_solver(tinynet.write(workdir, iter_size=iter_size, clip_gradients=clip,
                                            weight_decay=0, momentum=0))
    before = weights(solver)
    grads = reference_gradients(solver, iter_size)
    norm = np.sqrt(sum((g ** 2).sum() for g in grads))
    assert norm > 2 * clip
    solver.step(1)
    updates = [0.01 * lr_mult * g * clip / norm / iter_size
               for g, lr_mult in zip(grads, solver.net.params_lr)]
    assert_update(solver, before, updates)


def test_clipping_above_the_norm_changes_nothing(workdir):
    plain = caffe.get_solver(tinynet.write(workdir))
    clipped = caffe.get_solver(tinynet.write(workdir, clip_gradients=1e6))
    plain.step(2)
    clipped.step(2)
    for a, b in zip(weights(plain), weights(clipped)):
        assert np.array_equal(a, b)


@pytest.mark.parametrize('kind, term', [('L2', lambda w: w), ('L1', np.sign)])
def test_regularization(workdir, kind, term):
    solver = caffe.get_solver(tinynet.write(workdir, regularization_type='"%s"' % kind,
                                            weight_decay=0.1, momentum=0))
    before = weights(solver)
    grads = reference_gradients(solver, 1)
    solver.step(1)
    updates = [0.01 * lr_mult * (g + 0.1 * decay * term(w))
               for g, w, lr_mult, decay in zip(grads, before, solver.net.params_lr,
                                               solver.net.params_weight_decay)]
    assert_update(solver, before, updates)


def test_unknown_regularization_type(workdir):
    with pytest.raises(SolverError, match=r"unknown regularization_type 'L3' \(known: L2, L1\)"):
        caffe.get_solver(tinynet.write(workdir, regularization_type='"L3"'))


@pytest.mark.parametrize('field', ['base_lr', 'momentum', 'weight_decay', 'gamma', 'power', 'clip_gradients'])
@pytest.mark.parametrize('value', ['nan', 'inf', '-inf'])
def test_non_finite_settings_are_refused_naming_the_field(workdir, field, value):
    with pytest.raises(SolverError, match=r'solver\.prototxt: %s must be a finite number \(it is -?(nan|inf)\)' % field):
        caffe.get_solver(tinynet.write(workdir, **{field: value}))


@pytest.mark.parametrize('settings', [
    {'type': '"SGD"'}, {'type': '"Nesterov"'}, {'type': '"AdaGrad"', 'momentum': 0},
    {'type': '"RMSProp"', 'momentum': 0}, {'type': '"AdaDelta"', 'base_lr': 1},
    {'type': '"Adam"'}])
def test_lr_mult_zero_params_never_change(workdir, settings):
    solver = caffe.get_solver(tinynet.write(workdir, **settings))
    fixed = solver.net.params['fixed'][0].data.copy()
    conv = solver.net.params['conv'][0].data.copy()
    solver.step(3)
    assert np.array_equal(solver.net.params['fixed'][0].data, fixed)
    assert not np.array_equal(solver.net.params['conv'][0].data, conv)


def test_momentum_history_carries_over_steps(workdir):
    solver = caffe.get_solver(tinynet.write(workdir, weight_decay=0))
    g0 = reference_gradients(solver, 1)
    solver.step(1)
    w1 = weights(solver)
    g1 = reference_gradients(solver, 1)
    solver.step(1)
    updates = [0.01 * lr_mult * (0.9 * a + b) for a, b, lr_mult in zip(g0, g1, solver.net.params_lr)]
    assert_update(solver, w1, updates)
    assert solver.iter == 2


TEST_NET = tinynet.NET + 'layer { name: "probe" type: "ReLU" bottom: "conv" top: "probe" }\n'


def test_test_net_reports_mean_outputs(workdir, caplog):
    (workdir / 'test.prototxt').write_text(TEST_NET)
    solver = caffe.get_solver(tinynet.write(workdir, test_net='"test.prototxt"', test_iter=3,
                                            test_interval=2, test_compute_loss='true'))
    test_net = solver.test_nets[0]
    assert test_net.phase == caffe.TEST and sorted(test_net.outputs) == ['loss', 'probe']
    caplog.set_level(logging.INFO, logger=LOGGER)
    solver.step(3)   # tests at iterations 0 (test_initialization) and 2
    tested = [m for m in caplog.messages if 'Testing net' in m]
    assert tested == ['Iteration 0, Testing net (#0)', 'Iteration 2, Testing net (#0)']
    assert test_net.layers[0].count == 6

    # The test net uses the train net's weights (shared memory, Caffe's ShareTrainedLayersWith).
    reference = caffe.Net('test.prototxt', caffe.TEST)
    for layer, blobs in solver.net.params.items():
        for i, blob in enumerate(blobs):
            reference.params[layer][i].data[...] = blob.data
            assert np.array_equal(test_net.params[layer][i].data, blob.data)
    reference.layers[0].count = 6
    sums = {'loss': np.float32(0), 'probe': np.zeros((2, 3, 4, 5), np.float32)}
    for _ in range(3):
        out = reference.forward()
        for name in sums:
            sums[name] = sums[name] + out[name]
    means = solver.test(0)
    assert sorted(means) == ['loss', 'probe']
    for name, total in sums.items():
        np.testing.assert_allclose(means[name], total / 3, rtol=1e-6, atol=1e-7)
    loss_lines = [m for m in caplog.messages if 'Test net output' in m and ': loss = ' in m]
    assert loss_lines[-1].endswith('(* 1 = %g loss)' % means['loss'])
    assert sum(': probe = ' in m for m in caplog.messages) == 3 * 120   # one line per element
    assert sum(m.startswith('Test loss: ') for m in caplog.messages) == 3


def test_generic_net_serves_as_test_net_in_test_phase(workdir):
    net = tinynet.NET + ('layer { name: "probe" type: "ReLU" bottom: "conv" top: "probe" '
                         'include { phase: TEST } }\n')
    solver = caffe.get_solver(tinynet.write(workdir, net_text=net, test_iter=[1, 2], test_interval=5))
    assert len(solver.test_nets) == 2
    assert 'probe' not in solver.net.blobs
    assert all('probe' in t.blobs and t.phase == caffe.TEST for t in solver.test_nets)


def test_test_iter_must_match_test_nets(workdir):
    (workdir / 'test.prototxt').write_text(TEST_NET)
    with pytest.raises(SolverError, match='one test_iter per test net'):
        caffe.get_solver(tinynet.write(workdir, net=None, train_net='"net.prototxt"',
                                       test_net=['"test.prototxt"', '"test.prototxt"'], test_iter=1,
                                       test_interval=1))
    with pytest.raises(SolverError, match='test_interval > 0'):
        caffe.get_solver(tinynet.write(workdir, test_iter=1))


def test_display_logs_lr_smoothed_loss_and_outputs(workdir, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    solver = caffe.get_solver(tinynet.write(workdir, display=1, average_loss=2))
    solver.step(3)
    messages = caplog.messages
    assert 'Iteration 0, lr = 0.01' in messages and 'Iteration 1, lr = 0.01' in messages
    smoothed = [float(m.rsplit('loss = ', 1)[1]) for m in messages
                if re.match(r'Iteration \d+ \(.* iter/s, .*s/1 iters\), loss = ', m)]
    outputs = [float(re.search(r'loss = (\S+) \(\* 1 = ', m).group(1)) for m in messages
               if m.startswith('    Train net output #0: loss = ')]
    assert len(smoothed) == len(outputs) == 3
    assert smoothed[0] == pytest.approx(outputs[0], rel=1e-5)
    assert smoothed[1] == pytest.approx((outputs[0] + outputs[1]) / 2, rel=1e-5)
    assert smoothed[2] == pytest.approx((outputs[1] + outputs[2]) / 2, rel=1e-5)


def test_display_goes_to_stdout_without_logging_setup(workdir, capsys, monkeypatch):
    monkeypatch.setattr(logging.getLogger(LOGGER), 'hasHandlers', lambda: False)
    solver = caffe.get_solver(tinynet.write(workdir, display=1))
    solver.step(1)
    assert 'Iteration 0, lr = 0.01' in capsys.readouterr().out


def test_non_finite_loss_stops_naming_iteration_and_layer(workdir):
    solver = caffe.get_solver(tinynet.write(workdir, snapshot=1))
    solver.step(2)
    snapshot = (workdir / 'snap_iter_2.caffemodel').read_bytes()
    # An overflowing (finite) weight: 'score' of layer 'fixed' is the first non-finite top.
    solver.net.params['fixed'][0].data[...] = 3e38
    conv = solver.net.params['conv'][0].data.copy()
    with pytest.raises(SolverError, match=r"iteration 2: the loss is (nan|inf); the first non-finite "
                                          r"top is 'score' of layer 'fixed' \(Convolution\)"):
        solver.step(1)
    assert solver.iter == 2
    assert np.array_equal(solver.net.params['conv'][0].data, conv)   # no update applied
    assert (workdir / 'snap_iter_2.caffemodel').read_bytes() == snapshot
    assert not (workdir / 'snap_iter_3.caffemodel').exists()


def test_random_seed_makes_fillers_reproducible(workdir):
    a = caffe.get_solver(tinynet.write(workdir, random_seed=3))
    b = caffe.get_solver(tinynet.write(workdir, random_seed=3))
    c = caffe.get_solver(tinynet.write(workdir, random_seed=4))
    assert np.array_equal(a.net.params['conv'][0].data, b.net.params['conv'][0].data)
    assert not np.array_equal(a.net.params['conv'][0].data, c.net.params['conv'][0].data)


def test_solver_types(workdir):
    assert type(caffe.get_solver(tinynet.write(workdir, solver_type='ADAM'))) is caffe.AdamSolver
    assert type(caffe.get_solver(tinynet.write(workdir, type='"Nesterov"'))) is caffe.NesterovSolver
    assert type(caffe.SGDSolver(tinynet.write(workdir, type='"Adam"'))) is caffe.SGDSolver
    with pytest.raises(SolverError, match=r"unknown solver type 'Foo' \(known: SGD, Nesterov"):
        caffe.get_solver(tinynet.write(workdir, type='"Foo"'))
    with pytest.raises(SolverError, match='momentum cannot be used with AdaGrad'):
        caffe.get_solver(tinynet.write(workdir, type='"AdaGrad"'))
    with pytest.raises(SolverError, match=r'rms_decay should lie in \[0, 1\)'):
        caffe.get_solver(tinynet.write(workdir, type='"RMSProp"', momentum=0, rms_decay=1))


def test_solver_from_solver_parameter(workdir):
    from torchcaffe.formats import read_net, read_solver
    param = read_solver(tinynet.write(workdir))
    param.ClearField('net')
    param.net_param.CopyFrom(read_net('net.prototxt'))
    solver = caffe.get_solver(param)
    assert solver.param is not param and solver.param.net_param.name == 'tiny'
    solver.step(1)
    assert solver.iter == 1 and solver.lr == pytest.approx(0.01)


def test_construction_errors_name_the_culprit(workdir):
    with pytest.raises(SolverError, match=r'solver.prototxt: net "missing/net.prototxt": '
                                          r'missing/net.prototxt: cannot read'):
        caffe.get_solver(tinynet.write(workdir, net='"missing/net.prototxt"'))
    with pytest.raises(SolverError, match=r"solver.prototxt: unknown lr_policy 'cosine'"):
        caffe.get_solver(tinynet.write(workdir, lr_policy='"cosine"'))
    with pytest.raises(SolverError, match='give exactly one train net'):
        caffe.get_solver(tinynet.write(workdir, train_net='"net.prototxt"'))
    with pytest.raises(SolverError, match='average_loss must be >= 1'):
        caffe.get_solver(tinynet.write(workdir, average_loss=0))
    with pytest.raises(SolverError, match='iter_size must be >= 1'):
        caffe.get_solver(tinynet.write(workdir, iter_size=0))
