"""The plainest Interpreter loop, run with the device's Python: set inputs, invoke, read the clock; prints the median.

It is what edgedq's agent measures with none of edgedq around it (no protocol, no agent process
plumbing), so `make bench` can tell edgedq's overhead apart from a difference between LiteRT's APIs
(benchmark_litert_model drives the CompiledModel API, not the Interpreter).
Usage: python interpreter_loop.py MODEL THREADS RUNS WARMUP
"""

import statistics
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def main() -> None:
    model, threads, runs, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    interpreter = Interpreter(model_path=model, num_threads=threads)
    interpreter.allocate_tensors()
    rng = np.random.default_rng(0)
    feeds = [(d["index"], rng.uniform(-1, 1, d["shape"]).astype(d["dtype"])) for d in interpreter.get_input_details()]
    samples = []
    for counted in [False] * warmup + [True] * runs:
        start = time.perf_counter()
        for index, value in feeds:
            interpreter.set_tensor(index, value)
        interpreter.invoke()
        if counted:
            samples.append((time.perf_counter() - start) * 1e3)
    print(statistics.median(samples))


if __name__ == "__main__":
    main()
