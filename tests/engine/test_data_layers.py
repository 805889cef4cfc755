"""Data layers where the reference pycaffe cannot give golden numbers: random
sampling (checked statistically), the backends and formats it was built without
(LevelDB, encoded Datums, pictures, R-CNN windows: read with OpenCV here, as Caffe
reads them), and the errors. Every test writes its own small data on disk."""
import io
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import torchcaffe as caffe
from torchcaffe.errors import NetError
from torchcaffe.engine.layers.memory_data import set_input_arrays
from torchcaffe.formats import prototxt
from torchcaffe.proto import caffe_pb2

cv2 = pytest.importorskip('cv2')
lmdb = pytest.importorskip('lmdb')
h5py = pytest.importorskip('h5py')


def make(text, phase=caffe.TEST):
    return caffe.Net(prototxt.parse(textwrap.dedent(text), caffe_pb2.NetParameter()), phase)


def datum(pixels, label=0, encoded=None):
    """A Datum of the CxHxW uint8 ``pixels``, or of a picture file's bytes."""
    if encoded is not None:
        return caffe_pb2.Datum(data=encoded, encoded=True, label=label)
    c, h, w = pixels.shape
    return caffe_pb2.Datum(channels=c, height=h, width=w, data=pixels.tobytes(), label=label)


def write_lmdb(path, datums):
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, d in enumerate(datums):
            txn.put(b'%08d' % i, d.SerializeToString())
    env.close()


def png(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, 'PNG')
    return buf.getvalue()


def data_net(source, transform='', backend='LMDB', batch=1, tops=('data', 'label')):
    return '''
    layer { name: "d" type: "Data" %s
      data_param { source: "%s" backend: %s batch_size: %d } transform_param { %s } }
    ''' % (' '.join('top: "%s"' % t for t in tops), source, backend, batch, transform)


# -- DummyData ---------------------------------------------------------------------
def test_dummydata_random_fillers_refill_every_pass():
    net = make('''
    layer { name: "d" type: "DummyData" top: "u" top: "g"
      dummy_data_param { shape { dim: 100 dim: 100 }
        data_filler { type: "uniform" min: -1 max: 3 } data_filler { type: "gaussian" mean: 2 std: 0.5 } } }
    ''')
    net.forward()
    u1, g1 = net.blobs['u'].data.copy(), net.blobs['g'].data.copy()
    net.forward()
    u2, g2 = net.blobs['u'].data, net.blobs['g'].data
    assert not np.array_equal(u1, u2) and not np.array_equal(g1, g2)
    assert u1.min() >= -1 and u1.max() <= 3 and abs(u1.mean() - 1) < 0.05
    assert abs(u1.var() - 16 / 12) < 0.05
    assert abs(g1.mean() - 2) < 0.02 and abs(g1.std() - 0.5) < 0.02


def test_dummydata_checks_fields():
    with pytest.raises(NetError, match="layer 'd'.*data_filler"):
        make('''layer { name: "d" type: "DummyData" top: "a" top: "b" top: "c"
                dummy_data_param { shape { dim: 1 } data_filler { } data_filler { } } }''')
    with pytest.raises(NetError, match="layer 'd'.*not both"):
        make('layer { name: "d" type: "DummyData" top: "a" dummy_data_param { shape { dim: 1 } num: 1 } }')


# -- Data: backends, Datum formats, random transforms ----------------------------------
def test_data_leveldb_reads_as_lmdb(tmp_path):
    plyvel = pytest.importorskip('plyvel')
    rng = np.random.RandomState(0)
    datums = [datum(rng.randint(0, 256, (2, 3, 4)).astype(np.uint8), label=i) for i in range(5)]
    write_lmdb(tmp_path / 'lmdb', datums)
    db = plyvel.DB(str(tmp_path / 'leveldb'), create_if_missing=True)
    for i, d in enumerate(datums):
        db.put(b'%08d' % i, d.SerializeToString())
    db.close()
    a = make(data_net(tmp_path / 'lmdb', 'scale: 0.5', batch=3))
    b = make(data_net(tmp_path / 'leveldb', 'scale: 0.5', backend='LEVELDB', batch=3))
    for _ in range(3):  # 9 records from 5: starts over
        a.forward()
        b.forward()
        assert np.array_equal(a.blobs['data'].data, b.blobs['data'].data)
        assert np.array_equal(a.blobs['label'].data, b.blobs['label'].data)
    assert b.blobs['label'].data.tolist() == [1, 2, 3]


@pytest.mark.parametrize('transform, mode', [('', None), ('force_gray: true', cv2.IMREAD_GRAYSCALE),
                                             ('force_color: true', cv2.IMREAD_COLOR)])
def test_data_encoded_datum_decodes_as_opencv(tmp_path, transform, mode):
    rng = np.random.RandomState(1)
    rgb = rng.randint(0, 256, (5, 7, 3)).astype(np.uint8)
    write_lmdb(tmp_path / 'db', [datum(None, 4, encoded=png(rgb))])
    net = make(data_net(tmp_path / 'db', transform))
    net.forward()
    raw = np.frombuffer(png(rgb), np.uint8)
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED if mode is None else mode)
    img = img.reshape(img.shape[:2] + (-1,))
    assert np.array_equal(net.blobs['data'].data[0], img.transpose(2, 0, 1))
    assert net.blobs['label'].data.tolist() == [4]


def test_data_train_crop_and_mirror_are_uniform(tmp_path):
    caffe.set_random_seed(3)
    pixels = np.arange(2 * 5 * 6, dtype=np.uint8).reshape(2, 5, 6)
    write_lmdb(tmp_path / 'db', [datum(pixels)])
    net = make(data_net(tmp_path / 'db', 'crop_size: 3 mirror: true', batch=1, tops=('data',)),
               caffe.TRAIN)
    crops = {(y, x, m): pixels[:, y:y + 3, x:x + 3][:, :, ::-1 if m else 1]
             for y in range(3) for x in range(4) for m in (0, 1)}
    seen = {k: 0 for k in crops}
    for _ in range(2400):
        net.forward()
        out = net.blobs['data'].data[0]
        hits = [k for k, c in crops.items() if np.array_equal(out, c)]
        assert len(hits) == 1
        seen[hits[0]] += 1
    counts = np.array(list(seen.values()))
    assert counts.min() > 60 and counts.max() < 140  # 100 expected for each of 24


def test_data_test_phase_mirror_is_random_and_crop_central(tmp_path):
    pixels = np.arange(1 * 4 * 6, dtype=np.uint8).reshape(1, 4, 6)
    write_lmdb(tmp_path / 'db', [datum(pixels)])
    net = make(data_net(tmp_path / 'db', 'crop_size: 2 mirror: true', tops=('data',)))
    centre = pixels[:, 1:3, 2:4]
    mirrored = 0
    for _ in range(400):
        net.forward()
        out = net.blobs['data'].data[0]
        assert np.array_equal(out, centre) or np.array_equal(out, centre[:, :, ::-1])
        mirrored += np.array_equal(out, centre[:, :, ::-1])
    assert 150 < mirrored < 250


def test_data_errors(tmp_path, monkeypatch):
    with pytest.raises(NetError, match="layer 'd'.*not a database"):
        make(data_net(tmp_path / 'none'))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(NetError, match="layer 'd'.*cannot open LevelDB database"):
        make(data_net(tmp_path / 'empty', backend='LEVELDB'))
    write_lmdb(tmp_path / 'db', [datum(np.zeros((1, 2, 2), np.uint8))])
    with pytest.raises(NetError, match="layer 'd'.*batch_size must be positive"):
        make(data_net(tmp_path / 'db', batch=0))
    with pytest.raises(NetError, match="layer 'd'.*mean_file or mean_value"):
        make(data_net(tmp_path / 'db', 'mean_file: "m" mean_value: 1'))
    with pytest.raises(NetError, match="layer 'd'.*crop_size 3 exceeds"):
        make(data_net(tmp_path / 'db', 'crop_size: 3'))
    (tmp_path / 'mean').write_bytes(b'\xff\xff not a BlobProto')
    with pytest.raises(NetError, match="layer 'd'.*mean_file: .*mean: not a binary caffe.BlobProto"):
        make(data_net(tmp_path / 'db', 'mean_file: "%s"' % (tmp_path / 'mean')))
    with pytest.raises(NetError, match="layer 'd'.*mean_file: .*nope: cannot read"):
        make(data_net(tmp_path / 'db', 'mean_file: "%s"' % (tmp_path / 'nope')))
    monkeypatch.setitem(sys.modules, 'lmdb', None)
    with pytest.raises(NetError, match=r"pip install 'fcn\[data\]'"):
        make(data_net(tmp_path / 'db'))


# -- HDF5 ------------------------------------------------------------------------------
def test_hdf5data_shuffle_permutes_each_pass(tmp_path):
    caffe.set_random_seed(5)
    with h5py.File(tmp_path / 'a.h5', 'w') as f:
        f['x'] = np.arange(10, dtype=np.float32)
    (tmp_path / 'list.txt').write_text(str(tmp_path / 'a.h5'))
    net = make('layer { name: "h" type: "HDF5Data" top: "x" hdf5_data_param { source: "%s" '
               'batch_size: 10 shuffle: true } }' % (tmp_path / 'list.txt'))
    orders = []
    for _ in range(20):
        net.forward()
        orders.append(tuple(net.blobs['x'].data.astype(int)))
        assert sorted(orders[-1]) == list(range(10))
    assert len(set(orders)) == 20
    assert len({o[0] for o in orders}) > 5


def test_hdf5_errors(tmp_path, monkeypatch):
    with h5py.File(tmp_path / 'a.h5', 'w') as f:
        f['x'] = np.zeros(3, np.float32)
    (tmp_path / 'list.txt').write_text(str(tmp_path / 'a.h5'))
    with pytest.raises(NetError, match="layer 'h'.*no dataset 'y'"):
        make('layer { name: "h" type: "HDF5Data" top: "y" hdf5_data_param { source: "%s" batch_size: 1 } }'
             % (tmp_path / 'list.txt'))
    with pytest.raises(NetError, match="layer 'h'.*does not transform"):
        make('layer { name: "h" type: "HDF5Data" top: "x" transform_param { scale: 2 } '
             'hdf5_data_param { source: "%s" batch_size: 1 } }' % (tmp_path / 'list.txt'))
    out = make('''
      layer { name: "x" type: "Input" top: "x" top: "y" input_param { shape { dim: 1 } } }
      layer { name: "o" type: "HDF5Output" bottom: "x" bottom: "y" hdf5_output_param { file_name: "%s" } }
      ''' % (tmp_path / 'o.h5'))
    out.forward()
    with pytest.raises(NetError, match="layer 'o'.*one batch"):
        out.forward()  # Caffe cannot write the datasets a second time either
    monkeypatch.setitem(sys.modules, 'h5py', None)
    with pytest.raises(NetError, match=r"HDF5 file needs the 'h5py' package: pip install 'fcn\[data\]'"):
        make('layer { name: "h" type: "HDF5Data" top: "x" hdf5_data_param { source: "%s" batch_size: 1 } }'
             % (tmp_path / 'list.txt'))


# -- MemoryData ------------------------------------------------------------------------
MEMORY = 'layer { name: "m" type: "MemoryData" top: "d" top: "l" memory_data_param { batch_size: 2 ' \
         'channels: 1 height: 2 width: 2 } }'


def test_memorydata_input_checks():
    net = make(MEMORY)
    with pytest.raises(NetError, match="layer 'm'.*set_input_arrays"):
        net.forward()
    ok = np.zeros((4, 1, 2, 2), np.float32)
    with pytest.raises(RuntimeError, match='data array must be float32'):
        set_input_arrays(net, ok.astype(np.float64), np.zeros(4, np.float32))
    with pytest.raises(RuntimeError, match='data array has wrong height'):
        set_input_arrays(net, np.zeros((4, 1, 3, 2), np.float32), np.zeros(4, np.float32))
    with pytest.raises(RuntimeError, match='multiple of batch size'):
        set_input_arrays(net, ok[:3], np.zeros(3, np.float32))
    with pytest.raises(RuntimeError, match='must be C contiguous'):
        set_input_arrays(net, np.zeros((1, 2, 2, 4), np.float32).transpose(3, 0, 1, 2), np.zeros(4, np.float32))
    other = make('layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 } } }\n' + MEMORY)
    with pytest.raises(NetError, match='first layer is a MemoryDataLayer'):
        set_input_arrays(other, ok, np.zeros(4, np.float32))


# -- ImageData -------------------------------------------------------------------------
def write_images(tmp_path, n, size=(6, 8)):
    rng = np.random.RandomState(7)
    lines = []
    for i in range(n):
        name = 'im %d.png' % i  # a space in the name: the label follows the last space
        Image.fromarray(rng.randint(0, 256, size + (3,)).astype(np.uint8)).save(tmp_path / name)
        lines.append('%s %d' % (name, i * 10))
    (tmp_path / 'list.txt').write_text('\n'.join(lines) + '\n')
    return [tmp_path / ('im %d.png' % i) for i in range(n)]


def image_net(tmp_path, params, transform=''):
    return '''layer { name: "i" type: "ImageData" top: "data" top: "label"
      image_data_param { source: "%s" root_folder: "%s/" %s } transform_param { %s } }
      ''' % (tmp_path / 'list.txt', tmp_path, params, transform)


@pytest.mark.parametrize('color', [True, False])
def test_imagedata_reads_resizes_and_cycles_as_opencv(tmp_path, color):
    files = write_images(tmp_path, 3)
    net = make(image_net(tmp_path, 'batch_size: 2 new_height: 5 new_width: 11 is_color: %s'
                         % str(color).lower(), 'scale: 0.5 mean_value: 3'))
    flag = cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE
    for batch in ([0, 1], [2, 0]):
        net.forward()
        for j, i in enumerate(batch):
            img = cv2.resize(cv2.imread(str(files[i]), flag), (11, 5), interpolation=cv2.INTER_LINEAR)
            want = (img.reshape(5, 11, -1).transpose(2, 0, 1).astype(np.float32) - 3) * 0.5
            assert np.abs(net.blobs['data'].data[j] - want).max() <= 0.5  # one level apart at most
        assert net.blobs['label'].data.tolist() == [i * 10 for i in batch]


@pytest.mark.parametrize('ext', ['png', 'jpg'])
@pytest.mark.parametrize('color', [True, False])
def test_imagedata_without_resize_is_opencv_exactly(tmp_path, ext, color):
    rgb = np.random.RandomState(8).randint(0, 256, (9, 13, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / ('a.' + ext))
    (tmp_path / 'list.txt').write_text('a.%s 3\n' % ext)
    net = make(image_net(tmp_path, 'batch_size: 1 is_color: %s' % str(color).lower()))
    net.forward()
    img = cv2.imread(str(tmp_path / ('a.' + ext)), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(net.blobs['data'].data[0], img.reshape(9, 13, -1).transpose(2, 0, 1))


def test_imagedata_shuffle_and_rand_skip(tmp_path):
    caffe.set_random_seed(11)
    write_images(tmp_path, 6, (2, 2))
    net = make(image_net(tmp_path, 'batch_size: 6 shuffle: true'))
    orders = set()
    for _ in range(10):
        net.forward()
        labels = tuple(net.blobs['label'].data.astype(int))
        assert sorted(labels) == [0, 10, 20, 30, 40, 50]
        orders.add(labels)
    assert len(orders) > 5
    starts = set()
    for _ in range(40):
        net = make(image_net(tmp_path, 'batch_size: 1 rand_skip: 4'))
        net.forward()
        starts.add(int(net.blobs['label'].data[0]))
    assert starts == {0, 10, 20, 30}


# -- WindowData ------------------------------------------------------------------------
def window_net(tmp_path, params, transform='crop_size: 10'):
    return '''layer { name: "w" type: "WindowData" top: "data" top: "label"
      window_data_param { source: "%s" %s } transform_param { %s } }''' % (tmp_path / 'windows.txt', params, transform)


def write_windows(tmp_path):
    rng = np.random.RandomState(9)
    img = rng.randint(0, 256, (20, 24, 3)).astype(np.uint8)
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    (tmp_path / 'windows.txt').write_text(
        '# 0\n%s\n3\n20\n24\n3\n' % (tmp_path / 'a.png') +
        '7 0.9 2 3 13 15\n'      # foreground, class 7
        '4 0.1 0 0 23 19\n'      # background: label forced to 0
        '5 0.4 1 1 5 5\n')       # between the thresholds: unused
    return img


def test_windowdata_warps_windows_background_first(tmp_path):
    img = write_windows(tmp_path)
    net = make(window_net(tmp_path, 'batch_size: 4 fg_threshold: 0.5 bg_threshold: 0.3 fg_fraction: 0.5 '
                          'scale: 2', 'crop_size: 10 mean_value: 1 mean_value: 2 mean_value: 3'))
    net.forward()
    assert net.blobs['data'].data.shape == (4, 3, 10, 10)
    assert net.blobs['label'].data.tolist() == [0, 0, 7, 7]
    mean = np.array([1, 2, 3], np.float32)[:, None, None]
    for j, (x1, y1, x2, y2) in enumerate([(0, 0, 23, 19)] * 2 + [(2, 3, 13, 15)] * 2):
        warped = cv2.resize(img[y1:y2 + 1, x1:x2 + 1], (10, 10), interpolation=cv2.INTER_LINEAR)
        want = (warped.transpose(2, 0, 1).astype(np.float32) - mean) * 2
        assert np.abs(net.blobs['data'].data[j] - want).max() <= 2  # one level apart at most


def test_windowdata_context_pad_leaves_zero_border(tmp_path):
    img = write_windows(tmp_path)
    net = make(window_net(tmp_path, 'batch_size: 1 fg_fraction: 0 bg_threshold: 0.3 context_pad: 2'))
    net.forward()
    out = net.blobs['data'].data[0]
    # The whole 24x20 picture as the window, expanded by 10/6 around its centre: 40x34
    # pixels, of which the picture fills round(24*10/40) = 6 columns from round(8*10/40) = 2
    # and round(20*10/34) = 6 rows from round(7*10/34) = 2; the rest stays 0.
    inner = cv2.resize(img, (6, 6), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
    assert np.abs(out[:, 2:8, 2:8] - inner).max() <= 1
    border = np.ones((10, 10), bool)
    border[2:8, 2:8] = False
    assert not out[:, border].any()


def test_windowdata_mirror_is_random(tmp_path):
    caffe.set_random_seed(2)
    write_windows(tmp_path)
    net = make(window_net(tmp_path, 'batch_size: 1 fg_fraction: 1', 'crop_size: 10 mirror: true'))
    outs = []
    for _ in range(200):
        net.forward()
        outs.append(net.blobs['data'].data[0].copy())
    flipped = sum(np.array_equal(o, outs[0][:, :, ::-1]) for o in outs)
    same = sum(np.array_equal(o, outs[0]) for o in outs)
    assert same + flipped == 200 and 60 < flipped < 140
