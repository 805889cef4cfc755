"""ImageData: batches of pictures named in a list file ("path label" lines), read
as OpenCV reads them (BGR), optionally resized, through the transformer."""
import re

import numpy as np
import torch

from ..images import COLOR, GRAY, chw, imread, resize
from ..layer import register
from .base_data import BaseData


def _atoi(text):
    """C's atoi: the leading integer of ``text``, 0 when there is none."""
    m = re.match(r'\s*([+-]?\d+)', text)
    return int(m.group(1)) if m else 0


def read_list(layer, source):
    """[(path, label)] of an ImageData list: the label follows the last space."""
    try:
        with open(source, newline='\n') as f:
            lines = f.read().split('\n')
    except OSError as e:
        raise layer.error("cannot read image_data_param.source '%s': %s" % (source, e.strerror)) from None
    if lines and lines[-1] == '':
        lines.pop()  # getline yields no line after the final newline
    if not lines:
        raise layer.error("image_data_param.source '%s' is empty" % source)
    out = []
    for line in lines:
        path, _, label = line.rpartition(' ')
        out.append((path if path or ' ' in line else line, _atoi(label)))
    return out


@register('ImageData')
class ImageData(BaseData):
    exact_tops = 2

    def data_setup(self, top):
        p = self.param.image_data_param
        if (p.new_height == 0) != (p.new_width == 0):
            raise self.error('image_data_param: give new_height and new_width together')
        if p.batch_size <= 0:
            raise self.error('image_data_param.batch_size must be positive')
        self.lines = read_list(self, p.source)
        if p.shuffle:
            self._shuffle()
        self.line_id = 0
        if p.rand_skip:
            skip = int(torch.randint(p.rand_skip, (1,)).item())
            if skip >= len(self.lines):
                raise self.error('image_data_param.rand_skip: cannot skip %d of %d images'
                                 % (skip, len(self.lines)))
            self.line_id = skip
        shape = self.transformer.shape(*self._read(self.line_id).shape)
        top[0].reshape((p.batch_size,) + shape)
        top[1].reshape((p.batch_size,))

    def _shuffle(self):
        self.lines = [self.lines[i] for i in torch.randperm(len(self.lines)).tolist()]

    def _read(self, i):
        """Picture ``i`` of the list as a (C, H, W) uint8 array."""
        p = self.param.image_data_param
        path = p.root_folder + self.lines[i][0]
        try:
            img = imread(path, COLOR if p.is_color else GRAY)
        except (OSError, ValueError) as e:
            raise self.error('could not load %s: %s' % (path, e)) from None
        if p.new_height > 0:
            img = resize(img, p.new_height, p.new_width)
        return chw(img)

    def load_batch(self):
        n = self.param.image_data_param.batch_size
        first = self.transformer.shape(*self._read(self.line_id).shape)
        data = np.empty((n,) + first, np.float32)
        labels = np.empty(n, np.float32)
        for i in range(n):
            img = self._read(self.line_id)
            out = self.transformer(img)
            if out.shape != first:
                raise self.error('%s has shape %s, unlike the first image of the batch'
                                 % (self.lines[self.line_id][0], img.shape))
            data[i], labels[i] = out, self.lines[self.line_id][1]
            self.line_id += 1
            if self.line_id == len(self.lines):
                self.line_id = 0
                if self.param.image_data_param.shuffle:
                    self._shuffle()
        return data, labels
