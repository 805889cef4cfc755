"""``fcn download``: fetch an experiment's released weights, resuming and verifying them.

    fcn download voc-fcn8s                 # -> voc-fcn8s/voc-fcn8s.caffemodel
    fcn download voc-fcn8s --out w.caffemodel
    fcn download path/to/experiment --url http://mirror.example/fcn8s-heavy-pascal.caffemodel
    fcn download voc-fcn8s --force         # replace an existing voc-fcn8s.caffemodel

EXPERIMENT is an experiment directory of this checkout (``voc-fcn8s``) or a path to
one. Its ``caffemodel-url`` names the weights (``--url`` overrides it, e.g. for a
mirror), and its ``deploy.prototxt`` is the net they must fit. The default destination,
``<experiment>/<experiment>.caffemodel``, is where the training driver looks for an
experiment's weights (FCN-16s starts from FCN-32s's); an existing file is kept unless
``--force``.

The bytes go to ``<destination>.part`` first. An interrupted download resumes from
there when the same command runs again (an HTTP Range request; a server that ignores
Range sends the whole file and it starts over). A finished download is parsed as a
caffemodel and every layer of the deploy net that has parameters must be in it with
blobs of the right shapes; only then is it renamed to the destination, so that name
never holds a partial or unverified file. A file that fails verification is deleted
(resuming it could only give the same bad bytes) and the error names the layer and
the expected and found shapes. Progress (bytes, rate) goes to stderr.

From Python: ``fcn.download.download(url, dest, deploy)``; errors are DownloadError.
"""
import argparse
import http.client
import math
import os
import re
import sys
import time
import urllib.error
import urllib.request

import fcn
from fcn import score

CHUNK = 1 << 20  # bytes per read: small enough for a lively progress bar
TIMEOUT = 60  # seconds without a byte before a connection counts as lost


class DownloadError(Exception):
    """A download that cannot be done or whose file is not the weights it should be."""


def experiment(name):
    """(directory, caffemodel URL or None, deploy prototxt or None) of an experiment or its path."""
    directory = name if os.path.isdir(name) else os.path.join(fcn.REPO, name)
    if not os.path.isdir(directory):
        known = sorted(d for d in os.listdir(fcn.REPO)
                       if os.path.isfile(os.path.join(fcn.REPO, d, 'caffemodel-url')))
        raise DownloadError('unknown experiment %r: not a directory here or in %s (experiments '
                            'with released weights: %s)' % (name, fcn.REPO, ', '.join(known)))
    url_file = os.path.join(directory, 'caffemodel-url')
    url = None
    if os.path.isfile(url_file):
        with open(url_file) as f:
            url = f.read().strip() or None
    deploy = os.path.join(directory, 'deploy.prototxt')
    return directory, url, deploy if os.path.isfile(deploy) else None


def default_destination(directory):
    """``<experiment>/<experiment>.caffemodel``: the name fcn.train.experiment_weights looks up."""
    return os.path.join(directory, os.path.basename(os.path.normpath(directory)) + '.caffemodel')


def expected_params(deploy):
    """{layer: [param blob shapes]} of the deploy net, found by building it as Caffe would."""
    import torchcaffe
    from torchcaffe.errors import CaffeError
    try:
        net = torchcaffe.Net(os.fspath(deploy), torchcaffe.TEST)
    except (CaffeError, OSError) as e:
        raise DownloadError('cannot build the deploy net %s to check the weights against: %s'
                            % (deploy, e)) from None
    return {name: [blob.data.shape for blob in blobs] for name, blobs in net.params.items()}


def verify(path, expected=None):
    """Raise DownloadError unless ``path`` is a caffemodel holding the ``expected`` params.

    ``expected``: {layer: [shapes]} as expected_params returns, or None to check only
    that the file is a caffemodel. Returns the number of layers checked.
    """
    from torchcaffe.errors import FormatError
    from torchcaffe.formats import read_weights
    from torchcaffe.io import blob_shape, shape_equals
    try:
        model = read_weights(path)
    except FormatError as e:
        raise DownloadError(str(e)) from None
    # Caffe's CopyTrainedLayersFrom matches by name and ignores layers the net lacks
    found = {layer.name: layer.blobs for layer in model.layer}
    problems = []
    for layer, shapes in (expected or {}).items():
        if layer not in found:
            problems.append('layer %r is missing' % layer)
            continue
        blobs = found[layer]
        if len(blobs) != len(shapes):
            problems.append('layer %r has %d blobs, expected %d' % (layer, len(blobs), len(shapes)))
            continue
        for i, (blob, shape) in enumerate(zip(blobs, shapes)):
            # Caffe's own rule (Blob::ShapeEquals): an old-format blob stores its shape as
            # num/channels/height/width, right-aligned, so an InnerProduct weight (M, N)
            # is written 1x1xMxN and still fits; a new-format shape must match exactly.
            if not shape_equals(blob, shape):
                problems.append('layer %r blob %d has shape %s, the deploy net expects %s'
                                % (layer, i, blob_shape(blob), tuple(shape)))
            elif len(blob.double_data or blob.data) != math.prod(shape):
                problems.append('layer %r blob %d holds %d values, its shape %s needs %d'
                                % (layer, i, len(blob.double_data or blob.data), tuple(shape),
                                   math.prod(shape)))
    if problems:
        more = ' (and %d more)' % (len(problems) - 5) if len(problems) > 5 else ''
        raise DownloadError('%s does not fit the deploy net: %s%s'
                            % (path, '; '.join(problems[:5]), more))
    return len(expected or {})


def size(count):
    """A byte count for people: 512 B, 7.5 kB, 539.9 MB."""
    for unit in ('B', 'kB', 'MB'):
        if count < 1000:
            return '%d B' % count if unit == 'B' else '%.1f %s' % (count, unit)
        count /= 1000
    return '%.1f GB' % count


class Progress:
    """Bytes done of total and the rate: redrawn in place on a terminal, else a line every tenth."""

    def __init__(self, total, start=0, stream=None, what='download'):
        self.total, self.start, self.what = total, start, what
        self.stream = stream or sys.stderr
        self.began = self.drawn = time.monotonic()
        self.tenth = start * 10 // total if total else 0
        self.written = None  # the count of the last plain line

    def update(self, done, final=False):
        now = time.monotonic()
        rate = (done - self.start) / max(now - self.began, 1e-6)
        text = '%s%s  %s/s' % (size(done), ' of ' + size(self.total) if self.total else '',
                               size(rate))
        if self.stream.isatty():
            if final or now - self.drawn >= 0.1:  # redraw at most ten times a second
                bar = score.bar(done, self.total) + ' ' if self.total else ''
                # \033[K clears the rest of a longer line drawn before
                end = '\n' if final else ''
                self.stream.write('\r%s %s%s\033[K%s' % (self.what, bar, text, end))
                self.drawn = now
        elif (self.total and done * 10 // self.total > self.tenth
              or final and done != self.written):
            self.tenth = done * 10 // self.total if self.total else 0
            self.written = done
            self.stream.write('%s %s\n' % (self.what, text))
        self.stream.flush()


def _open(url, offset):
    """The response to GET ``url`` from byte ``offset`` on; a 416 comes back as a response too."""
    headers = {'User-Agent': 'fcn-download'}  # some servers refuse Python's default agent
    if offset:
        headers['Range'] = 'bytes=%d-' % offset
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=TIMEOUT)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            return e  # an HTTPError is also the response, headers included
        e.close()
        raise DownloadError('%s: HTTP %d %s' % (url, e.code, e.reason)) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DownloadError('cannot fetch %s: %s' % (url, getattr(e, 'reason', e))) from None


def _content_range(headers):
    """(first byte, total or None) of a Content-Range header, or None when absent or odd."""
    match = re.match(r'bytes\s+(\d+|\*)(?:-\d+)?/(\d+|\*)', headers.get('Content-Range') or '')
    if not match:
        return None
    first, total = match.groups()
    return (None if first == '*' else int(first)), (None if total == '*' else int(total))


def fetch(url, part, stream=None):
    """Download ``url`` into the file ``part``, resuming what it already holds; return its size."""
    offset = os.path.getsize(part) if os.path.isfile(part) else 0
    response = _open(url, offset)
    if (response.status or 200) == 416:  # file: URLs have no status
        response.close()
        if (_content_range(response.headers) or (None, None))[1] == offset:
            return offset  # complete already: an earlier run stopped before verifying
        offset = 0  # the partial file is longer than the remote one: start over
        response = _open(url, 0)
    with response:
        total = response.headers.get('Content-Length')
        total = int(total) if total and total.isdigit() else None
        if (response.status or 200) == 206:
            first, whole = _content_range(response.headers) or (None, None)
            if first != offset:
                raise DownloadError('%s: asked for bytes from %d on, the server sent a range '
                                    'starting at %s' % (url, offset, first))
            total = whole or (offset + total if total is not None else None)
        else:
            offset = 0  # a 200 to a Range request is the whole file: start over
        progress = Progress(total, offset, stream)
        done = offset
        with open(part, 'ab' if offset else 'wb') as f:
            try:
                while True:
                    chunk = response.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    done += len(chunk)
                    progress.update(done)
            except (OSError, http.client.HTTPException) as e:
                raise DownloadError('%s: connection lost after %d bytes (%s); run the same '
                                    'command again to resume' % (url, done, e)) from None
            finally:
                f.flush()
                os.fsync(f.fileno())  # the bytes on disk before any rename names them
        progress.update(done, final=True)
    if total is not None and done != total:
        raise DownloadError('%s: the connection closed after %d of %d bytes; run the same '
                            'command again to resume' % (url, done, total))
    return done


def download(url, dest, deploy=None, stream=None, force=False):
    """Fetch ``url`` to ``dest`` through ``dest.part`` (resumed), verified against ``deploy``.

    Returns the number of deploy layers whose params were checked. ``dest`` is only
    ever written by renaming a complete, verified file onto it.
    """
    dest = os.fspath(dest)
    if os.path.exists(dest) and not force:
        raise DownloadError('%s exists; use --force to replace it' % dest)
    # build the deploy net first: a net that cannot be built should not cost a download
    expected = expected_params(deploy) if deploy else None
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    part = dest + '.part'
    fetch(url, part, stream)
    try:
        checked = verify(part, expected)
    except DownloadError as e:
        # resuming a bad file could only give the same bytes again, so it goes
        os.remove(part)
        raise DownloadError('%s from %s failed verification and was deleted: %s'
                            % (os.path.basename(dest), url, e)) from None
    os.replace(part, dest)
    return checked


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog='fcn download', description="Fetch an experiment's released caffemodel, resuming "
        'an interrupted download, and verify it against the deploy net before saving it.')
    parser.add_argument('experiment', metavar='EXPERIMENT',
                        help='experiment directory name (voc-fcn8s) or path to one')
    parser.add_argument('--url', help="fetch this URL instead of the experiment's caffemodel-url")
    parser.add_argument('--out', metavar='FILE',
                        help='destination (default: EXPERIMENT/EXPERIMENT.caffemodel)')
    parser.add_argument('--force', action='store_true', help='replace an existing destination')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        directory, url, deploy = experiment(args.experiment)
        url = args.url or url
        if not url:
            raise DownloadError('%s has no caffemodel-url (no released weights); give --url'
                                % directory)
        dest = args.out or default_destination(directory)
        checked = download(url, dest, deploy, force=args.force)
    except (DownloadError, OSError) as e:
        print('fcn download: %s' % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('fcn download: interrupted; run the same command again to resume', file=sys.stderr)
        return 130
    against = ('%d layers checked against %s' % (checked, deploy) if deploy
               else 'no deploy.prototxt to check it against')
    print('%s: %s, %s' % (dest, size(os.path.getsize(dest)), against))
    return 0
