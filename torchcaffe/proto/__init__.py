"""Caffe's protobuf schema (``caffe.proto``) and its generated module."""
