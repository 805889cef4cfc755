"""Whole files: read with an error that names the file, replaced atomically (a reader
sees the old file or the new one, never a torn write)."""
import os
import tempfile

from ..errors import FormatError


def read_bytes(path):
    """The bytes of the file at ``path``; FormatError naming it when it cannot be read."""
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError as e:
        raise FormatError('%s: cannot read: %s' % (path, e.strerror)) from None


def atomic_write(path, data):
    """Write bytes ``data`` to ``path`` via a synced temporary file and a rename."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix='.' + os.path.basename(path) + '.', dir=directory)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a plain open() would honour the umask
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
