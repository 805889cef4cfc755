"""momentum.py: the momentum / batch size equivalence (section 6.2) and Table 2's solver presets."""
import os

import numpy as np
import pytest

from fcn import backend
from fcn.analyses import momentum
from torchcaffe.formats import prototxt, read_net, read_solver
from torchcaffe.net_spec import NetSpec, layers as L
from torchcaffe.proto import caffe_pb2

caffe = backend.load()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def example_weights(p, k, examples):
    """Each example's weight in the latest step of SGD with momentum p and batch k (rate 1),
    most recent first: the recursion g = sum of the batch's gradients + p g, run on one-hot
    gradients."""
    g = np.zeros(examples)
    for start in range(0, examples, k):
        g = np.eye(examples)[start:start + k].sum(0) + p * g
    return g[::-1]


def test_unrolled_momentum_weights_and_the_equivalence():
    """Example j back enters with weight p^floor(j/k); at batch 1 with p^(1/k) it is p^(j/k),
    equal at every multiple of k and between p^floor(j/k) and p^(floor(j/k) + 1) elsewhere."""
    p, k = 0.9, 20
    batch = example_weights(p, k, 200)
    np.testing.assert_allclose(batch, p ** (np.arange(200) // k))
    online = example_weights(momentum.equivalent_momentum(p, k, 1), 1, 200)
    np.testing.assert_allclose(online[::k], batch[::k])
    assert np.all(online <= batch + 1e-12) and np.all(online >= p * batch - 1e-12)


def test_the_papers_numbers():
    heavy = momentum.equivalent_momentum(0.9, 20, 1)
    assert heavy == pytest.approx(0.9947, abs=1e-4) and round(heavy, 2) == 0.99
    assert momentum.equivalent_batch(0.9, 20, heavy) == pytest.approx(1)
    assert momentum.equivalent_batch(0.9, 20, 0.99) == pytest.approx(1.907, abs=1e-3)
    assert momentum.equivalent_momentum(0.9, 1, 20) == pytest.approx(0.9 ** 20)  # online as a batch of 20


def test_conversion_command(capsys):
    momentum.main(['--momentum', '0.9', '--batch', '20', '--to-batch', '1'])
    assert capsys.readouterr().out == 'momentum 0.9 at batch 20 ~ momentum 0.994746 at batch 1 (p^(1/k) = 0.994746)\n'
    momentum.main(['--momentum', '0.99', '--batch', '1', '--to-momentum', '0.9'])
    assert 'momentum 0.9 at batch 10.4833' in capsys.readouterr().out
    for bad in (['--momentum', '1.5', '--batch', '20', '--to-batch', '1'],
                ['--momentum', '0.9', '--batch', '20', '--to-batch', '0'],
                ['--momentum', '0.9', '--batch', '20']):
        with pytest.raises(SystemExit):
            momentum.main(bad)


def loss_of(path):
    return next(l for l in read_net(path).layer if l.type == 'SoftmaxWithLoss').loss_param


@pytest.mark.parametrize('regime, iter_size, mom, lr, max_iter, normalize', [
    ('heavy', 1, 0.99, 1e-10, 100000, False),       # the released solver, unchanged
    ('online', 1, 0.9, 1e-10, 100000, False),
    ('accum', 20, 0.9, 1e-10 * 20 * 500 * 375, 5000, True),
])
def test_presets_of_voc_fcn32s(tmp_path, regime, iter_size, mom, lr, max_iter, normalize, capsys):
    out = tmp_path / regime
    momentum.main(['--experiment', os.path.join(ROOT, 'voc-fcn32s'), '--regime', regime, '--out', str(out)])
    assert capsys.readouterr().out.startswith('%s: iter_size %d, momentum %g' % (regime, iter_size, mom))
    solver = read_solver(str(out / 'solver.prototxt'))
    assert (solver.iter_size, solver.momentum, solver.max_iter) == (iter_size, pytest.approx(mom), max_iter)
    assert solver.base_lr == pytest.approx(lr, rel=1e-6)
    assert solver.snapshot == 4000 * max_iter // 100000
    assert solver.train_net == str(out / 'train.prototxt')
    assert list(solver.test_net) == [os.path.join(ROOT, 'voc-fcn32s', 'val.prototxt')]
    assert loss_of(solver.train_net).normalize is normalize
    assert loss_of(solver.train_net).ignore_label == 255
    original = read_net(os.path.join(ROOT, 'voc-fcn32s', 'train.prototxt'))
    assert [l.name for l in read_net(solver.train_net).layer] == [l.name for l in original.layer]


def test_the_released_alexnet_solver_is_the_accumulation_regime(tmp_path):
    """FCN-AlexNet's released solver: iter_size 20, momentum 0.9, normalized loss, 1e-4. As a
    heavy preset: the rate per pixel gradient stays, 1e-4 / (20 * 187500)."""
    alexnet = os.path.join(ROOT, 'voc-fcn-alexnet')
    same = momentum.write_preset(alexnet, 'accum', str(tmp_path / 'accum'))
    released = read_solver(os.path.join(alexnet, 'solver.prototxt'))
    assert (same.base_lr, same.momentum, same.iter_size, same.max_iter) == (
        released.base_lr, released.momentum, released.iter_size, released.max_iter)
    heavy = momentum.write_preset(alexnet, 'heavy', str(tmp_path / 'heavy'))
    assert heavy.base_lr == pytest.approx(1e-4 / (20 * 500 * 375))
    assert heavy.max_iter == 20 * released.max_iter
    assert loss_of(heavy.train_net).normalize is False


def test_per_pixel_follows_caffes_defaults():
    def layer(kind, **loss):
        return caffe_pb2.LayerParameter(type=kind, loss_param=caffe_pb2.LossParameter(**loss))
    assert momentum.per_pixel(layer('SoftmaxWithLoss'))
    assert not momentum.per_pixel(layer('SoftmaxWithLoss', normalize=False))
    assert not momentum.per_pixel(layer('SigmoidCrossEntropyLoss'))
    assert momentum.per_pixel(layer('SigmoidCrossEntropyLoss', normalization=caffe_pb2.LossParameter.FULL))
    assert not momentum.per_pixel(layer('SoftmaxWithLoss', normalize=True,
                                        normalization=caffe_pb2.LossParameter.NONE))


def tiny_experiment(directory):
    """An experiment directory whose train net takes Input layers, in the heavy regime."""
    n = NetSpec()
    n.data, n.label = L.Input(ntop=2, shape=[dict(dim=[1, 2, 6, 6]), dict(dim=[1, 1, 6, 6])])
    n.score = L.Convolution(n.data, num_output=3, kernel_size=1,
                            weight_filler=dict(type='gaussian', std=0.1))
    n.loss = L.SoftmaxWithLoss(n.score, n.label, loss_param=dict(normalize=False))
    os.makedirs(directory)
    prototxt.write(os.path.join(directory, 'train.prototxt'), n.to_proto())
    solver = caffe_pb2.SolverParameter(train_net='train.prototxt', base_lr=1e-3, momentum=0.99,
                                       max_iter=40, lr_policy='fixed', iter_size=1, display=0)
    prototxt.write(os.path.join(directory, 'solver.prototxt'), solver)


def run_preset(engine, tmp_path):
    """Write the accum preset of a tiny experiment; one step of it in ``engine`` updates the weights."""
    experiment = str(tmp_path / 'tiny')
    tiny_experiment(experiment)
    momentum.write_preset(experiment, 'accum', str(tmp_path / 'accum'), pixels=36)
    assert read_solver(str(tmp_path / 'accum' / 'solver.prototxt')).max_iter == 2
    solver = engine.get_solver(str(tmp_path / 'accum' / 'solver.prototxt'))
    before = solver.net.params['score'][0].data.copy()
    solver.net.blobs['data'].data[...] = np.random.RandomState(0).randn(1, 2, 6, 6)  # Input keeps it
    solver.step(1)
    assert solver.iter == 1 and not np.array_equal(solver.net.params['score'][0].data, before)
    return experiment


def test_a_preset_runs_in_caffe(tmp_path):
    experiment = run_preset(caffe, tmp_path)
    with pytest.raises(SystemExit, match='no typical image size known for tiny: give the pixel count'):
        momentum.main(['--experiment', experiment, '--regime', 'heavy', '--out', str(tmp_path / 'h')])


def test_a_preset_runs_in_real_caffe(tmp_path, pycaffe):
    run_preset(pycaffe, tmp_path)
