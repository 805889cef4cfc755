"""Exceptions raised by torchcaffe. Each message names the file, layer or field at fault."""


class CaffeError(Exception):
    """Base of every torchcaffe error."""


class FormatError(CaffeError, ValueError):
    """A file that is not what it should be: malformed text, a truncated or foreign binary."""


class NetError(CaffeError, ValueError):
    """A net that cannot be built or run: unknown layer type, missing bottom, bad shapes."""


class SolverError(CaffeError, ValueError):
    """A solver that cannot run: bad solver settings, missing net file, diverged loss."""
