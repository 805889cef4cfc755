"""Caffe's text format (prototxt): parsing with located errors, printing as Caffe does.

Caffe writes prototxt with C++ protobuf's TextFormat printer, whose numbers differ
from Python protobuf's (``lr_mult: 1``, not ``1.0``). ``to_text`` reproduces the
C++ output byte for byte, so files written here diff cleanly against Caffe's.
"""
import math
import os

import numpy as np
from google.protobuf import descriptor, text_encoding, text_format

from ..errors import FormatError
from .files import atomic_write, read_bytes

FD = descriptor.FieldDescriptor


def _float_text(value, digits, dtype):
    """Shortest of %.{digits}g / %.{digits+3}g that reads back as the same value."""
    if math.isnan(value):
        return 'nan'
    if math.isinf(value):
        return 'inf' if value > 0 else '-inf'
    text = '%.*g' % (digits, value)
    if dtype(text) != dtype(value):
        text = '%.*g' % (digits + 2 if dtype is np.float64 else digits + 3, value)
    return text


def _scalar_text(field, value):
    t = field.cpp_type
    if t == FD.CPPTYPE_STRING:
        raw = value if field.type == FD.TYPE_BYTES else value.encode('utf-8')
        return '"%s"' % text_encoding.CEscape(raw, as_utf8=False)
    if t == FD.CPPTYPE_BOOL:
        return 'true' if value else 'false'
    if t == FD.CPPTYPE_ENUM:
        v = field.enum_type.values_by_number.get(value)
        return v.name if v is not None else str(value)
    if t == FD.CPPTYPE_FLOAT:
        return _float_text(value, 6, np.float32)
    if t == FD.CPPTYPE_DOUBLE:
        return _float_text(value, 15, np.float64)
    return str(value)


def is_repeated(field):
    """Whether ``field`` is repeated (protobuf 7 dropped ``FieldDescriptor.label``)."""
    try:
        return field.is_repeated
    except AttributeError:
        return field.label == FD.LABEL_REPEATED


def _print(message, indent, out):
    pad = ' ' * indent
    for field, value in message.ListFields():
        values = value if is_repeated(field) else [value]
        for v in values:
            if field.cpp_type == FD.CPPTYPE_MESSAGE:
                out.append('%s%s {\n' % (pad, field.name))
                _print(v, indent + 2, out)
                out.append('%s}\n' % pad)
            else:
                out.append('%s%s: %s\n' % (pad, field.name, _scalar_text(field, v)))


def to_text(message):
    """The message as Caffe's C++ TextFormat prints it."""
    out = []
    _print(message, 0, out)
    return ''.join(out)


def parse(text, message, source='<string>'):
    """Merge prototxt ``text`` into ``message`` and return it.

    Errors raise FormatError naming ``source``, line and column; a message whose
    required fields are unset is an error too, as in Caffe.
    """
    try:
        text_format.Parse(text, message)
    except text_format.ParseError as e:
        where = '%s:%s:%s' % (source, e.GetLine(), e.GetColumn()) if e.GetLine() else source
        detail = str(e).split(' : ', 1)[-1]
        raise FormatError('%s: %s' % (where, detail)) from None
    missing = message.FindInitializationErrors()
    if missing:  # Caffe's C++ parser refuses these; protobuf's Python one lets them through
        raise FormatError('%s: required fields missing: %s' % (source, ', '.join(missing)))
    return message


def read(path, message_class):
    """Parse the prototxt file at ``path`` into a new ``message_class``."""
    path = os.fspath(path)
    raw = read_bytes(path)
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
        raise FormatError('%s: not a text file (byte %d is not UTF-8)' % (path, e.start)) from None
    return parse(text, message_class(), path)


def write(path, message):
    """Write ``message`` as prototxt, atomically."""
    atomic_write(path, to_text(message).encode('utf-8'))
