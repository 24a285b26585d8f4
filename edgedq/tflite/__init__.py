"""TFLite models as files: read and rewrite flatbuffers, describe them, compare two, inspect delegation.

Imports nothing from ``conversion``, ``device`` or ``measure``; loads models with
the host's runtime through the agent's own runtime module (so host and board
build interpreters the same way).
"""

DEFAULT_SAMPLES = 32  # generated inputs when compare is given no data
