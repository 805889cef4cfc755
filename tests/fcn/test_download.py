"""download.py: fetch, resume and verify a caffemodel from a local HTTP server (127.0.0.1 only)."""
import http.server
import io
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest

import fcn
import torchcaffe
from fcn import download
from torchcaffe.proto import caffe_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEPLOY = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: %d kernel_size: 3 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "score" type: "Convolution" bottom: "conv1" top: "score"
  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "gaussian" std: 1 } } }
'''


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves server.files; honours ``Range: bytes=N-`` unless server.ranges is off."""

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get('Range')))
        if self.path not in server.files:
            self.send_error(404)
            return
        body = server.files[self.path]
        wanted = re.fullmatch(r'bytes=(\d+)-', self.headers.get('Range') or '')
        if wanted and server.ranges:
            first = int(wanted.group(1))
            if first >= len(body):
                self.send_response(416)
                self.send_header('Content-Range', 'bytes */%d' % len(body))
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            self.send_response(206)
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (first, len(body) - 1, len(body)))
            body = body[first:]
        else:
            self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        # server.cut: send only that many bytes, then close, as a dropped connection does
        self.wfile.write(body if server.cut is None else body[:server.cut])

    def log_message(self, *args):
        pass  # keep the test output clean


@pytest.fixture
def server():
    """A loopback HTTP server in a thread; ``url(path)`` addresses it."""
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    httpd.files, httpd.requests, httpd.ranges, httpd.cut = {}, [], True, None
    httpd.url = lambda path: 'http://127.0.0.1:%d%s' % (httpd.server_port, path)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def weights(tmp_path, num_output=4, name='w'):
    """The bytes of a caffemodel of the tiny net with conv1 of ``num_output`` outputs."""
    deploy = tmp_path / ('%s.prototxt' % name)
    deploy.write_text(DEPLOY % num_output)
    torchcaffe.set_random_seed(1)
    net = torchcaffe.Net(str(deploy), torchcaffe.TEST)
    path = tmp_path / ('%s.caffemodel' % name)
    net.save(str(path))
    return path.read_bytes()


@pytest.fixture
def exp(tmp_path, server):
    """An experiment directory ``tiny-fcn`` whose caffemodel-url points at the server."""
    directory = tmp_path / 'tiny-fcn'
    directory.mkdir()
    (directory / 'deploy.prototxt').write_text(DEPLOY % 4)
    (directory / 'caffemodel-url').write_text(server.url('/tiny.caffemodel') + '\n')
    server.files['/tiny.caffemodel'] = weights(tmp_path)
    return directory


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(download, 'CHUNK', 256)  # many reads, so progress and resume get exercised


def test_downloads_verifies_and_names_it_for_training(exp, server, capsys):
    assert download.main([str(exp)]) == 0
    final = exp / 'tiny-fcn.caffemodel'
    assert final.read_bytes() == server.files['/tiny.caffemodel']
    assert not os.path.exists(str(final) + '.part')
    assert server.requests == [('/tiny.caffemodel', None)]
    out, err = capsys.readouterr()
    assert '2 layers checked' in out and str(final) in out
    size = download.size(len(server.files['/tiny.caffemodel']))
    assert 'download %s of %s' % (size, size) in err  # the progress reached the end
    # the weights load into the deploy net, and the training driver finds them by name
    net = torchcaffe.Net(str(exp / 'deploy.prototxt'), str(final), torchcaffe.TEST)
    assert np.abs(net.params['conv1'][0].data).sum() > 0
    from fcn.train import experiment_weights
    assert experiment_weights(str(exp)) == str(final)


def test_progress_prints_a_line_every_tenth_in_a_log(server, tmp_path):
    server.files['/big'] = weights(tmp_path, num_output=64)  # ~8 KB: 30 reads of 256 bytes
    stream = io.StringIO()
    download.fetch(server.url('/big'), str(tmp_path / 'big.part'), stream)
    lines = stream.getvalue().splitlines()
    assert 10 <= len(lines) <= 11 and all(line.startswith('download ') for line in lines)
    size = download.size(len(server.files['/big']))
    assert lines[-1].startswith('download %s of %s  ' % (size, size)) and lines[-1].endswith('/s')
    assert download.size(999) == '999 B' and download.size(539_900_000) == '539.9 MB'


def test_resumes_a_partial_download_with_a_range_request(exp, server):
    body = server.files['/tiny.caffemodel']
    final = exp / 'tiny-fcn.caffemodel'
    part = exp / 'tiny-fcn.caffemodel.part'
    part.write_bytes(body[:len(body) // 2])
    assert download.main([str(exp)]) == 0
    assert server.requests == [('/tiny.caffemodel', 'bytes=%d-' % (len(body) // 2))]
    assert final.read_bytes() == body
    assert not part.exists()


def test_a_dropped_connection_keeps_the_part_and_the_next_run_resumes(exp, server, capsys):
    body = server.files['/tiny.caffemodel']
    half = server.cut = len(body) // 2
    assert download.main([str(exp)]) == 1
    assert 'run the same command again to resume' in capsys.readouterr().err
    part = exp / 'tiny-fcn.caffemodel.part'
    assert part.read_bytes() == body[:half]
    assert not (exp / 'tiny-fcn.caffemodel').exists()
    server.cut = None
    assert download.main([str(exp)]) == 0
    assert server.requests[-1] == ('/tiny.caffemodel', 'bytes=%d-' % half)
    assert (exp / 'tiny-fcn.caffemodel').read_bytes() == body


def test_a_server_that_ignores_range_starts_over(exp, server):
    body = server.files['/tiny.caffemodel']
    server.ranges = False
    part = exp / 'tiny-fcn.caffemodel.part'
    part.write_bytes(b'\xff' * 100)  # not the file's bytes: appending to them would corrupt it
    assert download.main([str(exp)]) == 0
    assert server.requests == [('/tiny.caffemodel', 'bytes=100-')]
    assert (exp / 'tiny-fcn.caffemodel').read_bytes() == body


def test_a_complete_part_answered_416_is_verified_without_refetching(exp, server):
    body = server.files['/tiny.caffemodel']
    (exp / 'tiny-fcn.caffemodel.part').write_bytes(body)
    assert download.main([str(exp)]) == 0
    assert server.requests == [('/tiny.caffemodel', 'bytes=%d-' % len(body))]
    assert (exp / 'tiny-fcn.caffemodel').read_bytes() == body


def test_a_part_longer_than_the_file_starts_over(exp, server):
    body = server.files['/tiny.caffemodel']
    (exp / 'tiny-fcn.caffemodel.part').write_bytes(body + b'junk')
    assert download.main([str(exp)]) == 0
    assert [r for _, r in server.requests] == ['bytes=%d-' % (len(body) + 4), None]
    assert (exp / 'tiny-fcn.caffemodel').read_bytes() == body


def test_weights_of_the_wrong_shape_are_rejected_and_deleted(exp, server, tmp_path, capsys):
    server.files['/tiny.caffemodel'] = weights(tmp_path, num_output=5, name='other')
    assert download.main([str(exp)]) == 1
    err = capsys.readouterr().err.splitlines()[-1]  # after the progress lines
    assert err.startswith('fcn download: tiny-fcn.caffemodel from http://127.0.0.1:')
    assert "layer 'conv1' blob 0 has shape (5, 3, 3, 3), the deploy net expects (4, 3, 3, 3)" in err
    assert "layer 'score' blob 0 has shape (2, 5, 1, 1)" in err
    # nothing under the final name, and no .part
    assert sorted(os.listdir(exp)) == ['caffemodel-url', 'deploy.prototxt']


def test_a_missing_layer_is_named(exp, server):
    model = caffe_pb2.NetParameter()
    model.ParseFromString(server.files['/tiny.caffemodel'])
    del model.layer[-1]  # drop "score"
    server.files['/tiny.caffemodel'] = model.SerializeToString()
    with pytest.raises(download.DownloadError, match="layer 'score' is missing"):
        download.download(server.url('/tiny.caffemodel'), str(exp / 'w.caffemodel'),
                          str(exp / 'deploy.prototxt'), stream=io.StringIO())
    assert not (exp / 'w.caffemodel').exists() and not (exp / 'w.caffemodel.part').exists()


@pytest.mark.parametrize('cut', ['truncated', 'html'])
def test_a_file_that_is_not_a_caffemodel_is_rejected(exp, server, capsys, cut):
    body = server.files['/tiny.caffemodel']
    server.files['/tiny.caffemodel'] = (body[:len(body) * 2 // 3] if cut == 'truncated'
                                        else b'<html><body>Moved</body></html>\n')
    assert download.main([str(exp)]) == 1
    err = capsys.readouterr().err
    assert 'failed verification and was deleted' in err
    assert 'not a binary caffe.NetParameter' in err or 'missing' in err
    assert not (exp / 'tiny-fcn.caffemodel').exists()
    assert not (exp / 'tiny-fcn.caffemodel.part').exists()


def test_an_old_format_inner_product_weight_fits(tmp_path):
    # V1 files store an (M, N) InnerProduct weight as num=1 channels=1 height=M width=N
    deploy = tmp_path / 'fc.prototxt'
    deploy.write_text('layer { name: "input" type: "Input" top: "data" '
                      'input_param { shape { dim: 1 dim: 2 } } }\n'
                      'layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc" '
                      'inner_product_param { num_output: 3 } }\n')
    model = caffe_pb2.NetParameter()
    layer = model.layer.add(name='fc', type='InnerProduct')
    for dims, count in (((1, 1, 3, 2), 6), ((1, 1, 1, 3), 3)):
        blob = layer.blobs.add()
        blob.num, blob.channels, blob.height, blob.width = dims
        blob.data.extend([0.5] * count)
    path = tmp_path / 'fc.caffemodel'
    path.write_bytes(model.SerializeToString())
    expected = download.expected_params(str(deploy))
    assert expected == {'fc': [(3, 2), (3,)]}
    assert download.verify(str(path), expected) == 1
    layer.blobs[0].height = 2  # 1x1x2x2: four values short of the weight
    del layer.blobs[0].data[2:]
    path.write_bytes(model.SerializeToString())
    with pytest.raises(download.DownloadError, match=r"'fc' blob 0 has shape \(1, 1, 2, 2\)"):
        download.verify(str(path), expected)


def test_an_existing_destination_needs_force(exp, server, capsys):
    final = exp / 'tiny-fcn.caffemodel'
    final.write_bytes(b'mine')
    assert download.main([str(exp)]) == 1
    assert '--force' in capsys.readouterr().err
    assert final.read_bytes() == b'mine' and server.requests == []
    assert download.main([str(exp), '--force']) == 0
    assert final.read_bytes() == server.files['/tiny.caffemodel']


def test_out_and_url_choose_the_file_and_the_source(exp, server, tmp_path):
    server.files['/mirror/w.caffemodel'] = server.files.pop('/tiny.caffemodel')
    out = tmp_path / 'sub' / 'mine.caffemodel'
    assert download.main([str(exp), '--out', str(out),
                          '--url', server.url('/mirror/w.caffemodel')]) == 0
    assert out.read_bytes() == server.files['/mirror/w.caffemodel']
    assert not (exp / 'tiny-fcn.caffemodel').exists()


def test_http_404_is_a_clear_error(exp, server, capsys):
    assert download.main([str(exp), '--url', server.url('/gone.caffemodel')]) == 1
    err = capsys.readouterr().err
    assert err.startswith('fcn download: ') and 'gone.caffemodel: HTTP 404 Not Found' in err
    with pytest.raises(download.DownloadError, match='HTTP 404'):
        download.fetch(server.url('/gone'), str(exp / 'x.part'))
    assert not (exp / 'tiny-fcn.caffemodel').exists()


def test_a_refused_connection_is_a_clear_error(exp, server, capsys):
    port = server.server_port
    server.shutdown()
    server.server_close()  # nothing listens on the port now
    url = 'http://127.0.0.1:%d/tiny.caffemodel' % port
    assert download.main([str(exp), '--url', url]) == 1
    assert 'cannot fetch %s' % url in capsys.readouterr().err


def test_experiments_are_found_by_name_in_the_checkout(exp, server, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)  # no voc-fcn8s here: the name is looked up under fcn.REPO
    directory, url, deploy = download.experiment('voc-fcn8s')
    assert directory == os.path.join(fcn.REPO, 'voc-fcn8s')
    assert url == 'http://dl.caffe.berkeleyvision.org/fcn8s-heavy-pascal.caffemodel'
    assert deploy == os.path.join(fcn.REPO, 'voc-fcn8s', 'deploy.prototxt')
    assert download.default_destination(directory) == os.path.join(
        fcn.REPO, 'voc-fcn8s', 'voc-fcn8s.caffemodel')
    monkeypatch.setattr(fcn, 'REPO', str(exp.parent))
    monkeypatch.chdir(ROOT)  # and no tiny-fcn here
    assert download.main(['tiny-fcn']) == 0
    assert (exp / 'tiny-fcn.caffemodel').exists()
    assert download.main(['no-such-fcn']) == 1
    err = capsys.readouterr().err
    assert "unknown experiment 'no-such-fcn'" in err and 'tiny-fcn' in err
    (exp / 'caffemodel-url').unlink()
    assert download.main(['tiny-fcn', '--force']) == 1
    assert 'has no caffemodel-url' in capsys.readouterr().err


def test_the_command_runs_as_python_m_fcn(exp, server):
    run = subprocess.run([sys.executable, '-m', 'fcn', 'download', str(exp)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert (exp / 'tiny-fcn.caffemodel').read_bytes() == server.files['/tiny.caffemodel']
    assert 'tiny-fcn.caffemodel' in run.stdout and 'download ' in run.stderr
    run = subprocess.run([sys.executable, '-m', 'fcn', 'download', str(exp)], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and run.stderr.startswith('fcn download: ')
