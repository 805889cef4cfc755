"""pycaffe's Net surface beyond forward/backward, side by side with the reference
pycaffe: which blobs forward/backward with start/end return, the batched
forward_all/forward_backward_all, HDF5 weights both ways, layer callbacks, and the
module-level functions."""
import numpy as np
import pytest

import torchcaffe as caffe

# Tops named unlike their layers, a shared parameter and a loss: where end=L
# differs from a blob lookup and where HDF5 writes only the owner.
NET = '''name: "api" force_backward: true
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "a"
        param { name: "w" } inner_product_param { num_output: 4 } }
layer { name: "split" type: "Slice" bottom: "a" top: "b" top: "c" slice_param { axis: 1 } }
layer { name: "ip2" type: "InnerProduct" bottom: "b" top: "d"
        param { name: "w2" } param { lr_mult: 2 } inner_product_param { num_output: 3 } }
layer { name: "ip3" type: "InnerProduct" bottom: "c" top: "e"
        param { name: "w2" } param { lr_mult: 2 } inner_product_param { num_output: 3 } }
layer { name: "sum" type: "Eltwise" bottom: "d" bottom: "e" top: "out" }
'''


@pytest.fixture
def nets(tmp_path, pycaffe):
    """(torchcaffe net, reference net) with the same random weights."""
    path = tmp_path / 'net.prototxt'
    path.write_text(NET)
    ref = pycaffe.Net(str(path), pycaffe.TEST)
    rng = np.random.RandomState(0)
    for blobs in ref.params.values():
        for b in blobs:
            b.data[...] = rng.randn(*b.data.shape)
    ref.save(str(tmp_path / 'w.caffemodel'))
    ours = caffe.Net(str(path), str(tmp_path / 'w.caffemodel'), caffe.TEST)
    return ours, ref


def same(a, b):
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_forward_end_returns_the_tops_of_that_layer(nets):
    x = np.random.RandomState(1).randn(2, 3).astype(np.float32)
    for net in nets:
        net.blobs['x'].data[...] = x
    same(nets[0].forward(end='split'), nets[1].forward(end='split'))
    same(nets[0].forward(start='ip2', end='ip2', blobs=['a']),
         nets[1].forward(start='ip2', end='ip2', blobs=['a']))
    same(nets[0].forward(), nets[1].forward())


def test_backward_end_returns_the_bottom_diffs_of_that_layer(nets):
    rng = np.random.RandomState(2)
    x, g = rng.randn(2, 3).astype(np.float32), rng.randn(2, 3).astype(np.float32)
    for net in nets:
        net.forward(x=x)
    same(nets[0].backward(end='split', out=g), nets[1].backward(end='split', out=g))
    same(nets[0].backward(start='ip3', end='ip3', diffs=['x']),
         nets[1].backward(start='ip3', end='ip3', diffs=['x']))
    same(nets[0].backward(out=g), nets[1].backward(out=g))


def test_forward_all_and_forward_backward_all_batch_and_unpad(nets):
    rng = np.random.RandomState(3)
    x, g = rng.randn(5, 3).astype(np.float32), rng.randn(5, 3).astype(np.float32)
    ours, ref = nets[0].forward_all(blobs=['a'], x=x), nets[1].forward_all(blobs=['a'], x=x)
    assert ours['out'].shape == (5, 3)
    same(ours, ref)
    (o1, d1), (o2, d2) = [n.forward_backward_all(blobs=['a'], diffs=['b'], x=x, out=g) for n in nets]
    same(o1, o2)
    same(d1, d2)
    assert d1['x'].shape == (5, 3)


def test_hdf5_weights_both_ways(nets, tmp_path):
    ours, ref = nets
    import h5py
    ours.save_hdf5(str(tmp_path / 'ours.h5'), True)
    ref.save_hdf5(str(tmp_path / 'ref.h5'))  # pycaffe's binding writes no diffs

    def datasets(path, group):
        with h5py.File(path, 'r') as f:
            return {k: f[group][k][()] for layer in f[group] for k in
                    [layer + '/' + j for j in f[group][layer]]}

    # the same file layout: every layer a group, shared params written by the owner only
    same(datasets(tmp_path / 'ours.h5', 'data'), datasets(tmp_path / 'ref.h5', 'data'))
    assert sorted(datasets(tmp_path / 'ours.h5', 'diff')) == ['ip/0', 'ip/1', 'ip2/0', 'ip2/1',
                                                              'ip3/0', 'ip3/1']
    fresh_ref = type(ref)(str(tmp_path / 'net.prototxt'), 1)  # TEST
    fresh_ref.load_hdf5(str(tmp_path / 'ours.h5'))
    fresh = caffe.Net(str(tmp_path / 'net.prototxt'), str(tmp_path / 'ref.h5'), caffe.TEST)
    for name in ref.params:
        for a, b, c in zip(ref.params[name], fresh.params[name], fresh_ref.params[name]):
            np.testing.assert_array_equal(a.data, b.data)
            np.testing.assert_array_equal(a.data, c.data)


def test_hdf5_weights_errors(tmp_path):
    path = tmp_path / 'net.prototxt'
    path.write_text(NET)
    net = caffe.Net(str(path), caffe.TEST)
    bad = tmp_path / 'bad.h5'
    bad.write_bytes(b'not hdf5')
    with pytest.raises(caffe.errors.FormatError, match='bad.h5'):
        net.load_hdf5(str(bad))
    other = tmp_path / 'other.prototxt'
    other.write_text(NET.replace('num_output: 4', 'num_output: 6').replace('dim: 3 }', 'dim: 3 }'))
    caffe.Net(str(other), caffe.TEST).save_hdf5(str(tmp_path / 'other.h5'))
    with pytest.raises(caffe.errors.NetError, match="param 0 of layer 'ip'"):
        net.copy_from(str(tmp_path / 'other.h5'))


def test_hdf5_weights_refuse_a_layer_name_with_a_slash(tmp_path):
    path = tmp_path / 'net.prototxt'
    path.write_text(NET.replace('name: "ip"', 'name: "inception/ip"'))
    with pytest.raises(caffe.errors.FormatError, match="'inception/ip'"):
        caffe.Net(str(path), caffe.TEST).save_hdf5(str(tmp_path / 'w.h5'))
    assert not (tmp_path / 'w.h5').exists()


def test_layer_callbacks_run_in_caffes_order(nets):
    calls = [], []
    for net, seen in zip(nets, calls):
        for when in ('before_forward', 'after_forward', 'before_backward', 'after_backward'):
            getattr(net, when)(lambda i, when=when, seen=seen: seen.append((when, i)))
        net.forward()
        net.backward()
    assert calls[0] == calls[1] and len(calls[0]) == 4 * 6


def test_module_functions_as_pycaffe(pycaffe):
    assert caffe.has_nccl() is False
    with pytest.raises(RuntimeError, match='torchrun'):
        caffe.NCCL.new_uid()
    for name in ('solver_count', 'solver_rank'):
        getattr(caffe, 'set_' + name)(3)
        assert getattr(caffe, name)() == 3
        getattr(caffe, 'set_' + name)(1 if name == 'solver_count' else 0)
    caffe.set_multiprocess(False)
    timer = caffe.Timer()
    timer.start()
    timer.stop()
    assert 0 <= timer.ms < 1000
    assert caffe.__version__ == pycaffe.__version__
    assert 'Python' in caffe.layer_type_list()
    assert caffe.layer_type_list() == sorted(caffe.layer_type_list())


def test_clear_param_diffs_zeroes_what_the_user_holds(tmp_path):
    """Diffs are dropped rather than zero-filled when nobody holds them; an array the
    user took from ``diff`` still reads zeros after the clear, and backward adds up."""
    path = tmp_path / 'net.prototxt'
    path.write_text(NET)
    net = caffe.Net(str(path), caffe.TEST)
    for blobs in net.params.values():
        for b in blobs:
            b.data[...] = 0.5
    net.forward(x=np.ones((2, 3), np.float32))
    net.blobs['out'].diff[...] = 1
    net.backward()
    first = net.params['ip'][0].diff.copy()
    assert np.abs(first).sum() > 0
    held = net.params['ip'][0].diff
    net.clear_param_diffs()
    assert not held.any()
    net.backward()
    net.backward()  # Caffe accumulates parameter diffs over passes
    np.testing.assert_allclose(net.params['ip'][0].diff, 2 * first, rtol=1e-6)
    np.testing.assert_allclose(held, 2 * first, rtol=1e-6)
