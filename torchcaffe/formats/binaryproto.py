"""Caffe's binary protobuf files: .caffemodel (NetParameter), .solverstate (SolverState)
and .binaryproto mean files (BlobProto).

Reading is one linear protobuf parse (upb), so a 500 MB VGG16 caffemodel costs
about a second; turning its blobs into arrays is torchcaffe.io's job.
"""
import os

from google.protobuf import unknown_fields
from google.protobuf.message import DecodeError

from ..errors import FormatError
from ..proto import caffe_pb2
from .files import atomic_write, read_bytes
from .prototxt import is_repeated

# Fields of which every real file of that kind has at least one. Caffe's Net::ToProto
# writes every layer, parameterless ones too, so a caffemodel without layers is not one.
_MUST_HAVE_ONE_OF = {caffe_pb2.NetParameter: ('layer', 'layers')}
# A net has at most this many layers: parsing takes about 500 bytes of memory per layer
# however small it is in the file, so millions of empty layers would take gigabytes before
# any check. Real nets have hundreds to a few thousand.
MAX_LAYERS = 100000


def read(path, message_class):
    """Parse the binary protobuf file at ``path`` into a new ``message_class``.

    Raises FormatError naming the file when it cannot be read, is empty, does not
    parse (truncated, or text), or parses but is evidently another kind of file.
    """
    path = os.fspath(path)
    raw = read_bytes(path)
    name = message_class.DESCRIPTOR.full_name
    if not raw:
        raise FormatError('%s: empty file, expected a binary %s' % (path, name))
    entries, scanned = _count_entries(raw, MAX_LAYERS + 1) if message_class is caffe_pb2.NetParameter \
        else (0, 0)
    if entries > MAX_LAYERS:
        entries = entries * len(raw) // scanned  # as many again in the rest of the file, proportionally
        raise FormatError('%s: holds about %d layers, more than the %d a net may have; parsing them '
                          'would take about %.1f GB' % (path, entries, MAX_LAYERS, entries * 500 / 2 ** 30))
    message = message_class()
    try:
        message.ParseFromString(raw)
        problem = _kind_problem(message)
    except DecodeError:
        problem = 'it does not parse (truncated, corrupt or another kind of file)'
    if problem:
        raise FormatError('%s: not a binary %s: %s%s' % (path, name, problem, _text_hint(raw)))
    return message


def _count_entries(raw, stop):
    """(how many top-level fields the wire format of ``raw`` holds, counting up to ``stop``;
    the bytes they span). Each is skipped by its length, so a 500 MB caffemodel of a few
    dozen layers costs microseconds. Bytes that do not frame as protobuf count 0 (the
    parser says what is wrong with them)."""
    count, pos, end = 0, 0, len(raw)
    try:
        while pos < end and count < stop:
            key, pos = _varint(raw, pos)
            wire = key & 7
            if wire == 0:
                _, pos = _varint(raw, pos)
            elif wire == 2:
                length, pos = _varint(raw, pos)
                pos += length
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
            else:  # groups, or not protobuf
                return 0, pos
            count += 1
    except IndexError:
        return 0, pos
    return count, pos


def _varint(raw, pos):
    """The varint at ``raw[pos]`` and the position after it."""
    value = shift = 0
    while True:
        byte = raw[pos]
        value |= (byte & 0x7f) << shift
        pos += 1
        if byte < 0x80:
            return value, pos
        shift += 7


def _kind_problem(message):
    """Why a message that parsed is still not a file of its kind, or None.

    The protobuf wire format has no type tag: any bytes whose tags and lengths happen
    to nest parse as *some* message, and fields the schema does not define are kept
    silently as unknown fields. Files written by Caffe use only fields of caffe.proto,
    while another kind of file (a caffemodel read as a solverstate: NetParameter's
    string ``name`` is field 1 where SolverState has the varint ``iter``) or random
    bytes almost surely produce a field number or wire type the schema does not
    have. So an unknown field at the top level rejects the file. Unknown fields
    deeper down are allowed: caffemodels from Caffe forks carry extra layer
    parameters that BVLC Caffe also ignores. Finally the message must hold what
    every file of its kind holds (layers for a net; something at all otherwise).
    """
    name = message.DESCRIPTOR.full_name
    unknown = sorted({f.field_number for f in unknown_fields.UnknownFieldSet(message)})
    if unknown:
        return 'it holds field numbers %s that %s does not have' % (_short_list(unknown), name)
    needed = _MUST_HAVE_ONE_OF.get(type(message))
    if needed and not any(len(getattr(message, f)) for f in needed):
        return 'it has no layers'
    if not message.ListFields():
        return 'it holds no %s fields' % name
    bad = _non_utf8_string(message)
    if bad:
        return 'its string field %s is not UTF-8' % bad
    return None


def _non_utf8_string(message, path=''):
    """The path of a string field holding bytes that are not UTF-8, or None.

    Protobuf does not check proto2 strings on parsing: it hands such a field out as
    bytes, which fail later wherever a str is needed. BlobProtos hold no strings:
    their floats are skipped.
    """
    for field, value in message.ListFields():  # the fields set: a net's empty layers cost nothing
        repeated = is_repeated(field)
        where = '%s%s' % (path, field.name)
        values = value if repeated else [value]
        if field.type == field.TYPE_STRING:
            if any(isinstance(v, bytes) for v in values):
                return where
        elif field.type == field.TYPE_MESSAGE and field.message_type.name != 'BlobProto':
            for i, value in enumerate(values):
                bad = _non_utf8_string(value, '%s[%d].' % (where, i) if repeated else where + '.')
                if bad:
                    return bad
    return None


def _short_list(numbers, limit=8):
    text = ', '.join(str(n) for n in numbers[:limit])
    return text + (', ...' if len(numbers) > limit else '')


def _text_hint(raw):
    """' (it looks like a text file ...)' when the file starts with printable ASCII."""
    head = raw[:512]
    if head.isascii() and all(c.isprintable() or c in '\t\n\r' for c in head.decode()):
        return ' (it looks like a text file: a prototxt?)'
    return ''


def write(path, message):
    """Write ``message`` in protobuf binary form to ``path``, atomically."""
    atomic_write(path, message.SerializeToString())
