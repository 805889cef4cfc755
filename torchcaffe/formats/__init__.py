"""Caffe's file formats: prototxt text, binary protobuf files, and upgrades of old nets."""
