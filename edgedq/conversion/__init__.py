"""TensorFlow sources to TFLite variants: recognise and hash sources, drive TensorFlow, rewrite for
dynamic range, cache every variant.  The only layer of the library that imports TensorFlow.

The package itself stays light (the CLI reads ``MODES`` without loading numpy);
``edgedq.conversion.pipeline`` holds ``convert``.
"""

MODES = ("dynamic", "float32", "float16", "int8")
