"""Fuzzing of the readers of Caffe's files: prototxt (nets and solvers), caffemodel
(read and copied into a net), solverstate (read and restored into a solver) and the
.rngstate beside it.

Inputs are real files of tests/golden mutated (bit flips, cuts, insertions, deletions,
overwrites, repeats; in text also inserted prototxt tokens), random bytes, and text
made of random prototxt tokens. Each must parse or raise the documented error:
FormatError for a reader, and FormatError or NetError/SolverError where a file that
parses must also fit a net or solver. Any other exception fails.

test_fuzz.py runs this file in a subprocess with a timeout, so a native crash or a
hang fails that test instead of killing pytest. FCN_FUZZ_EXAMPLES sets the inputs per
target (default 500; e.g. 20000 for a long run); ``python tests/fuzz_formats.py``
runs it directly and prints each target's count and time.
"""
import os
import sys
import tempfile
import time

from hypothesis import HealthCheck, given, settings, strategies as st

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import torchcaffe as caffe  # noqa: E402
from torchcaffe.errors import FormatError, NetError, SolverError  # noqa: E402
from torchcaffe.formats import binaryproto, read_net, read_solver, read_weights, rngstate  # noqa: E402
from torchcaffe.proto import caffe_pb2  # noqa: E402

EXAMPLES = int(os.environ.get('FCN_FUZZ_EXAMPLES', '500'))
GOLDEN = os.path.join(ROOT, 'tests', 'golden')
_SCRATCH = tempfile.TemporaryDirectory(prefix='fcn-fuzz-')  # removed at exit
SCRATCH = _SCRATCH.name
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def golden(*parts):
    with open(os.path.join(GOLDEN, *parts), 'rb') as f:
        return f.read()


NETS = [golden(d, 'net.prototxt') for d in ('tiny_fcn8s_40x60', 'v1_net', 'crop_axis2_two_offsets')]
SOLVER = golden('solver_sgd_step', 'solver.prototxt')
MODELS = [golden('conv_k3_p1', 'weights.caffemodel'), golden('v1_net', 'weights.caffemodel'),
          golden('tiny_fcn32s_40x60', 'weights.caffemodel')]
STATE = golden('solver_sgd_step', 'snapshot_iter_4.solverstate')


def _rng_state():
    path = os.path.join(SCRATCH, 'seed.rngstate')
    rngstate.write(path, rngstate.capture())
    with open(path, 'rb') as f:
        return f.read()


RNG_STATE = _rng_state()


def _names():
    """Every field and enum value name of caffe.proto: the words of generated prototxt."""
    names = set()
    for message in caffe_pb2.DESCRIPTOR.message_types_by_name.values():
        stack = [message]
        while stack:
            m = stack.pop()
            names.update(f.name for f in m.fields)
            names.update(v.name for e in m.enum_types for v in e.values)
            stack.extend(m.nested_types)
    return sorted(names)


TOKENS = _names() + ['{', '}', ':', '<', '>', '[', ']', ',', ';', '"conv"', "'x'", '"\\x4', '"open',
                     '"\\u12"', '0', '1', '-1', '3.5', '1e40', '-1e-50', 'nan', 'inf', '-inf',
                     '0x7f', '077', '99999999999999999999', 'true', 'false', 'True', '#c\n', '\n',
                     '\t', '\\', '\x00', '\u00e9', '"Convolution"', '"Python"']

OPS = ('flip', 'cut', 'insert', 'delete', 'overwrite', 'repeat', 'token')
MUTATIONS = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2**31),
                               st.binary(min_size=1, max_size=8), st.sampled_from(TOKENS)),
                     min_size=1, max_size=6)


def mutate(raw, mutations, text=False):
    """``raw`` with ``mutations`` applied (tokens are inserted only into text)."""
    b = bytearray(raw)
    for op, at, piece, token in mutations:
        i = at % (len(b) + 1)
        if op == 'flip' and b:
            b[i % len(b)] ^= 1 << piece[0] % 8
        elif op == 'cut':
            del b[i:]
        elif op == 'insert' or (op == 'token' and not text):
            b[i:i] = piece
        elif op == 'token':
            b[i:i] = (' %s ' % token).encode()
        elif op == 'delete':
            del b[i:i + piece[0]]
        elif op == 'overwrite':
            b[i:i + len(piece)] = piece
        elif op == 'repeat':
            b[i:i] = b[i:i + piece[0]] * (1 + piece[-1] % 4)
    return bytes(b)


def scratch(data, name):
    path = os.path.join(SCRATCH, name)
    with open(path, 'wb') as f:
        f.write(data)
    return path


def expect(errors, call, *args):
    """Run ``call(*args)``: success or one of ``errors``; anything else propagates."""
    try:
        call(*args)
    except errors:
        pass


# -- prototxt ----------------------------------------------------------------------

@SETTINGS
@given(st.sampled_from(NETS), MUTATIONS)
def net_prototxt_mutated(seed, mutations):
    expect(FormatError, read_net, scratch(mutate(seed, mutations, text=True), 'net.prototxt'))


@SETTINGS
@given(MUTATIONS)
def solver_prototxt_mutated(mutations):
    expect(FormatError, read_solver, scratch(mutate(SOLVER, mutations, text=True), 'solver.prototxt'))


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=80), st.booleans())
def prototxt_of_tokens(tokens, solver):
    path = scratch(' '.join(tokens).encode(), 'tokens.prototxt')
    expect(FormatError, read_solver if solver else read_net, path)


STRINGS = ['""', '"x"', '"data"', '"label"', '"conv"', '"pool"', '"innerproduct"', '"padding"',
           '"Convolution"', '"Python"', '"Input"', '"\\303"', '"a b"']
INTEGERS = ['0', '1', '2', '3', '7', '-1', '2147483648']
FLOATS = ['0', '0.5', '1', '-2', '1e-9', '1e39', 'nan', 'inf']


def scalar(field):
    """Text values for a scalar field, mostly of its type."""
    if field.type == field.TYPE_ENUM:
        return st.sampled_from([v.name for v in field.enum_type.values] + ['7'])
    if field.type == field.TYPE_STRING:
        return st.sampled_from(STRINGS)
    if field.type == field.TYPE_BOOL:
        return st.sampled_from(['true', 'false'])
    if field.cpp_type in (field.CPPTYPE_FLOAT, field.CPPTYPE_DOUBLE):
        return st.sampled_from(FLOATS)
    return st.sampled_from(INTEGERS)


@st.composite
def message_text(draw, message, depth=0):
    """Prototxt of a random ``message`` by the schema: real field names, nested up to 4 deep."""
    if not message.fields:
        return ''
    fields = draw(st.lists(st.sampled_from(list(message.fields)), max_size=6 if depth < 2 else 3,
                           unique_by=lambda f: f.name if f.type != f.TYPE_MESSAGE else None))
    parts = []
    for field in fields:
        if field.type != field.TYPE_MESSAGE:
            parts.append('%s: %s' % (field.name, draw(scalar(field))))
        elif depth < 4:
            parts.append('%s { %s }' % (field.name, draw(message_text(field.message_type, depth + 1))))
    return ' '.join(parts)


@SETTINGS
@given(st.sampled_from([caffe_pb2.NetParameter, caffe_pb2.SolverParameter]).flatmap(
    lambda kind: st.tuples(st.just(kind), message_text(kind.DESCRIPTOR))))
def prototxt_by_schema(kind_text):
    """Mostly valid prototxt: deeper into the readers, the upgrades of old nets included;
    each net that reads is also written as a caffemodel and read back and copied."""
    kind, text = kind_text
    path = scratch(text.encode(), 'schema.prototxt')
    if kind is caffe_pb2.SolverParameter:
        return expect(FormatError, read_solver, path)
    try:
        net = read_net(path)
    except FormatError:
        return
    model = scratch(net.SerializeToString(), 'schema.caffemodel')
    expect(FormatError, read_weights, model)
    expect((FormatError, NetError), net_for(MODELS[0]).copy_from, model)


# -- binary files --------------------------------------------------------------------

_nets = {}


def net_for(model):
    """The golden net whose weights ``model`` is (built once)."""
    if model not in _nets:
        directory = {m: d for m, d in zip(MODELS, ('conv_k3_p1', 'v1_net', 'tiny_fcn32s_40x60'))}[model]
        _nets[model] = caffe.Net(os.path.join(GOLDEN, directory, 'net.prototxt'), caffe.TEST)
    return _nets[model]


@SETTINGS
@given(st.sampled_from(MODELS), MUTATIONS)
def caffemodel_mutated(seed, mutations):
    path = scratch(mutate(seed, mutations), 'weights.caffemodel')
    expect(FormatError, read_weights, path)
    expect((FormatError, NetError), net_for(seed).copy_from, path)


_solver = []


def sgd_solver():
    """The golden SGD solver whose state STATE is (built once, in its directory)."""
    if not _solver:
        os.chdir(os.path.join(GOLDEN, 'solver_sgd_step'))  # its paths are relative, as in Caffe
        _solver.append(caffe.get_solver('solver.prototxt'))
        os.chdir(SCRATCH)
    return _solver[0]


@SETTINGS
@given(MUTATIONS)
def solverstate_mutated(mutations):
    path = scratch(mutate(STATE, mutations), 'snap.solverstate')
    expect(FormatError, binaryproto.read, path, caffe_pb2.SolverState)
    expect((FormatError, SolverError), sgd_solver().restore, path)


@SETTINGS
@given(MUTATIONS)
def rngstate_mutated(mutations):
    expect(FormatError, rngstate.read, scratch(mutate(RNG_STATE, mutations), 'snap.rngstate'))


@SETTINGS
@given(st.binary(max_size=4096))
def random_bytes(raw):
    path = scratch(raw, 'random.bin')
    for read in (read_net, read_solver, read_weights, rngstate.read):
        expect(FormatError, read, path)
    for kind in (caffe_pb2.SolverState, caffe_pb2.BlobProto):
        expect(FormatError, binaryproto.read, path, kind)


TARGETS = (net_prototxt_mutated, solver_prototxt_mutated, prototxt_of_tokens, prototxt_by_schema,
           caffemodel_mutated,
           solverstate_mutated, rngstate_mutated, random_bytes)


def main():
    os.chdir(SCRATCH)
    total = time.time()
    for target in TARGETS:
        start = time.time()
        target()
        print('%-24s %6d inputs  %6.1f s' % (target.__name__, EXAMPLES, time.time() - start), flush=True)
    print('all: %d inputs in %.1f s' % (EXAMPLES * len(TARGETS), time.time() - total))


if __name__ == '__main__':
    main()
