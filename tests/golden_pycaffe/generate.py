"""Compute the golden cases of this directory with the reference pycaffe.

A case is a directory holding ``net.prototxt`` and ``case.json`` (what to feed
it); this script writes ``weights.caffemodel`` and ``golden.npz`` beside them,
with the keys of tests/golden (see its README), so ``tests/support/golden.py``
reads both trees the same way. Run it with the pycaffe that
scripts/build_pycaffe.sh builds:

    .venv/bin/python tests/golden_pycaffe/generate.py [PATTERN ...]

Each case runs in a child process, because Caffe aborts on a failed CHECK.

case.json (every key optional):
  desc      one line: what the case pins down
  phase     "TEST" (default) or "TRAIN"
  backward  run backward too (default true)
  inputs    {blob: spec} for the net's inputs; default normal(0, 1)
  params    {"layer/i": spec} for parameter blobs; default normal(0, 0.5);
            "keep" keeps what Caffe's fillers (or the prototxt) put there
  seed      default crc32 of the case name
  files     {name: {"hdf5": {dataset: spec}}}, {name: {"text": "..."}},
            {name: {"binaryproto": spec}} or {name: {"lmdb": {"count": n,
            "shape": [c, h, w], "data": spec, "label": spec, "float": bool}}}
            (Datum records, uint8 bytes unless "float"): files the net reads,
            written into the case directory before it loads
  memory    {"data": spec, "labels": spec} (with shapes): given to the net's
            MemoryData layer by set_input_arrays before the forward passes
  forwards  forward passes to run (default 1); the golden data is the last's
  outputs   HDF5 files the net writes: their datasets are stored as
            file/<name>/<dataset> (read after the net is deleted)
  random    blobs whose data is random (TRAIN-phase sampling): data not stored
  reforward run forward again after the diffs are filled, before each backward
            (default false): for layers that leave forward state in a bottom
            diff, as HingeLoss does
Parameters a forward pass changes (BatchNorm's running averages in TRAIN) are
also stored as they are after the forward pass, as param_forward/<layer>/<i>.
A spec is {"normal": [mean, std]}, {"uniform": [low, high]}, {"int": [low, high)},
{"const": value}, optionally with "shape" (files only) and "dtype".
"""
import json
import os
import subprocess
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SENTINEL = np.float32(-1234.5)


def load_caffe():
    """The reference pycaffe built by scripts/build_pycaffe.sh."""
    sys.path.insert(0, ROOT)
    from fcn import backend
    sys.path.insert(0, os.path.join(backend.pycaffe_prefix(), 'python'))
    os.environ.setdefault('GLOG_minloglevel', '2')
    import caffe
    return caffe


def draw(rng, spec, shape):
    """An array of ``shape`` drawn as ``spec`` says."""
    shape = tuple(spec.get('shape', shape))
    dtype = spec.get('dtype', 'float32')
    if 'uniform' in spec:
        a = rng.uniform(*spec['uniform'], size=shape)
    elif 'int' in spec:
        a = rng.randint(*spec['int'], size=shape)
    elif 'const' in spec:
        a = np.full(shape, spec['const'])
    else:
        a = rng.normal(*spec.get('normal', [0, 1]), size=shape)
    return a.astype(dtype)


def write_lmdb(caffe, target, spec, rng):
    """An LMDB database of ``spec['count']`` Datum records keyed %08d."""
    import lmdb
    shape = tuple(spec['shape'])
    env = lmdb.open(target, map_size=1 << 26)
    with env.begin(write=True) as txn:
        for i in range(spec['count']):
            pixels = draw(rng, spec.get('data', {'int': [0, 256]}), shape)
            label = int(draw(rng, spec.get('label', {'int': [0, 10]}), ()))
            datum = caffe.proto.caffe_pb2.Datum(channels=shape[0], height=shape[1], width=shape[2], label=label)
            if spec.get('float'):
                datum.float_data.extend(pixels.astype(np.float32).ravel().tolist())
            else:
                datum.data = pixels.astype(np.uint8).tobytes()
            txn.put(b'%08d' % i, datum.SerializeToString())
    env.close()


def write_files(caffe, case_dir, files, rng):
    for name, spec in files.items():
        target = os.path.join(case_dir, name)
        if 'text' in spec:
            with open(target, 'w') as f:
                f.write(spec['text'])
        elif 'lmdb' in spec:
            write_lmdb(caffe, target, spec['lmdb'], rng)
        elif 'binaryproto' in spec:
            arr = draw(rng, spec['binaryproto'], ())
            with open(target, 'wb') as f:
                f.write(caffe.io.array_to_blobproto(arr).SerializeToString())
        else:
            import h5py
            with h5py.File(target, 'w') as f:
                for key, ds in spec['hdf5'].items():
                    f.create_dataset(key, data=draw(rng, ds, ()))


def run_case(case_dir):
    """Generate one case (in this process)."""
    caffe = load_caffe()
    name = os.path.basename(case_dir)
    with open(os.path.join(case_dir, 'case.json')) as f:
        spec = json.load(f)
    rng = np.random.RandomState(spec.get('seed', zlib.crc32(name.encode())))
    os.chdir(case_dir)  # file paths in the prototxt are relative to the case
    write_files(caffe, case_dir, spec.get('files', {}), rng)
    caffe.set_random_seed(int(spec.get('seed', 1701)))
    phase = caffe.TRAIN if spec.get('phase') == 'TRAIN' else caffe.TEST
    net = caffe.Net('net.prototxt', phase)
    out = {}
    for layer, blobs in net.params.items():
        for i, b in enumerate(blobs):
            p = spec.get('params', {}).get('%s/%d' % (layer, i), {'normal': [0, 0.5]})
            if p != 'keep':
                b.data[...] = draw(rng, p, b.data.shape)
            out['param/%s/%d' % (layer, i)] = b.data.copy()
    net.save('weights.caffemodel')
    for blob in net.inputs:
        value = draw(rng, spec.get('inputs', {}).get(blob, {}), net.blobs[blob].data.shape)
        net.blobs[blob].data[...] = value
        out['input/' + blob] = value

    if 'memory' in spec:
        memory = {k: draw(rng, spec['memory'][k], ()) for k in ('data', 'labels')}
        net.set_input_arrays(memory['data'], memory['labels'])
        out.update(('memory/' + k, v) for k, v in memory.items())

    n = len(net.layers)
    loss_blobs = [b for b, w in net.blob_loss_weights.items() if w]
    for _ in range(spec.get('forwards', 1) - 1):
        net._forward(0, n - 1)
    out['loss_total'] = np.float32(net._forward(0, n - 1))
    random = set(spec.get('random', []))
    for b, blob in net.blobs.items():
        if b not in random and not ('input/' + b in out and np.array_equal(out['input/' + b], blob.data)):
            out['data/' + b] = blob.data.copy()
    for layer, blobs in net.params.items():
        for i, b in enumerate(blobs):
            if not np.array_equal(b.data, out['param/%s/%d' % (layer, i)]):
                out['param_forward/%s/%d' % (layer, i)] = b.data.copy()
    for b in loss_blobs:
        out['loss/' + b] = np.float32(net.blobs[b].data.reshape(-1)[0])

    backward = spec.get('backward', True)
    diff_not_computed, param_not_computed = [], []
    if backward:
        top_diffs = {b: rng.normal(size=net.blobs[b].diff.shape).astype(np.float32)
                     for b in net.outputs if b not in loss_blobs}
        fixed = set(top_diffs) | set(loss_blobs)
        for b, d in top_diffs.items():
            out['top_diff/' + b] = d

        def backward_pass(fill):
            for b, blob in net.blobs.items():
                if b not in fixed:
                    blob.diff[...] = fill
            for blobs in net.params.values():
                for pb in blobs:
                    pb.diff[...] = fill
            for b, d in top_diffs.items():
                net.blobs[b].diff[...] = d
            if spec.get('reforward'):
                net._forward(0, n - 1)
            net._backward(n - 1, 0)

        backward_pass(0)
        for b, blob in net.blobs.items():
            out['diff/' + b] = blob.diff.copy()
        for layer, blobs in net.params.items():
            for i, pb in enumerate(blobs):
                out['param_diff/%s/%d' % (layer, i)] = pb.diff.copy()
        backward_pass(SENTINEL)
        diff_not_computed = [b for b, blob in net.blobs.items()
                             if b not in fixed and np.all(blob.diff == SENTINEL)]
        param_not_computed = ['%s/%d' % (l, i) for l, blobs in net.params.items()
                              for i, pb in enumerate(blobs) if np.all(pb.diff == SENTINEL)]
        for key in [k for k in out if k.startswith('diff/')]:
            if key[5:] in diff_not_computed:
                del out[key]
        for key in [k for k in out if k.startswith('param_diff/')]:
            if key[11:] in param_not_computed:
                del out[key]

    meta = {
        'case': name, 'phase': 'TRAIN' if phase == caffe.TRAIN else 'TEST',
        'blob_names': list(net.blobs), 'layer_names': list(net._layer_names),
        'layer_types': [l.type for l in net.layers], 'inputs': list(net.inputs),
        'outputs': list(net.outputs), 'backward': backward,
        'diff_not_computed': diff_not_computed, 'param_diff_not_computed': param_not_computed,
        'tie_sensitive_diffs': [], 'random': sorted(random), 'desc': spec.get('desc', ''),
        'forwards': spec.get('forwards', 1), 'outputs_written': spec.get('outputs', []),
    }
    del net  # Caffe closes the files it writes when its layers go
    for name in spec.get('outputs', []):
        import h5py
        with h5py.File(name, 'r') as f:
            out.update(('file/%s/%s' % (name, k), f[k][()]) for k in f)
        os.remove(name)  # an output, not part of the case
    for k, v in meta.items():
        out['meta/' + k] = np.array(v) if not isinstance(v, list) else np.array(v, dtype=str)
    np.savez_compressed('golden.npz', **out)


def case_dirs(patterns):
    names = sorted(d for d in os.listdir(HERE) if os.path.isfile(os.path.join(HERE, d, 'case.json')))
    return [os.path.join(HERE, d) for d in names if not patterns or any(p in d for p in patterns)]


def main(argv):
    if argv[:1] == ['--run-case']:
        run_case(argv[1])
        return 0
    failed = []
    for case_dir in case_dirs(argv):
        env = dict(os.environ, OPENBLAS_NUM_THREADS='1')
        r = subprocess.run([sys.executable, os.path.abspath(__file__), '--run-case', case_dir], env=env)
        print('%-40s %s' % (os.path.basename(case_dir), 'ok' if r.returncode == 0 else 'FAILED'))
        if r.returncode:
            failed.append(case_dir)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
