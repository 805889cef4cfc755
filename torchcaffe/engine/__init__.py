"""The torch engine: Caffe nets, layers and solvers executed with PyTorch."""
