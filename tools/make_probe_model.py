"""Write device_agents/edgedq_agent/probe.tflite: the few-hundred-byte model the agent runs to prove its runtime.

Float32 ADD and MUL at op version 1, so every runtime the agent supports (tflite-runtime 2.14 included) loads it.
Run with the host venv: .venv/bin/python tools/make_probe_model.py
"""

from pathlib import Path

import tensorflow as tf

TARGET = Path(__file__).resolve().parent.parent / "device_agents" / "edgedq_agent" / "probe.tflite"


@tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
def probe(x: tf.Tensor) -> tf.Tensor:
    return x * 2.0 + 1.0


def main() -> None:
    converter = tf.lite.TFLiteConverter.from_concrete_functions([probe.get_concrete_function()], probe)
    TARGET.write_bytes(converter.convert())
    print(f"{TARGET}: {TARGET.stat().st_size} bytes")


if __name__ == "__main__":
    main()
