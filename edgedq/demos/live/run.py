"""``live_speech`` and ``live_vision``: train or find the model, convert it, build the source, stream, summarise.

The Python API of ``edgedq demo speech|vision --live``.  The spotter's settings are fixed here (a 20 ms hop,
posteriors averaged over 0.4 s, threshold 0.65, 1 s refractory): they were chosen on test streams of other
seeds than the one the tests use, and the README says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgedq import files
from edgedq.conversion.pipeline import convert
from edgedq.demos.live import faces, session, sources, speech_stream, vision_stream
from edgedq.demos.live.report import SpeechLiveReport, VisionLiveReport, speech_report, vision_report
from edgedq.demos.runner import Trained
from edgedq.device.inventory import Device
from edgedq.errors import BadInput
from edgedq.measure.events import Events, Stage, no_events

SPOTTER = {"hop_ms": 20.0, "smooth_s": 0.4, "threshold": 0.65, "refractory_s": 1.0, "report_every_s": 1.0}
FACE_THRESHOLD = 0.5  # a face (BlazeFace's score); the test stream's faces score above 0.9
DIGIT_THRESHOLD = 0.9  # a digit read off a card (the model's softmax)
VISION_SECONDS = 60.0  # MLPerf's minimum: long enough for a board to warm up past its burst
TRAINED_MODES = ("float32", "dynamic", "int8")


def _converted(trained: Trained, mode: str, notify: Events) -> Path:
    """The demo's model in ``mode``, converted once (cached by content like every conversion)."""
    if mode not in TRAINED_MODES:
        raise BadInput(f"the {trained.name} demo's model comes in {', '.join(TRAINED_MODES)}, not {mode}")
    notify(Stage("local", f"converting the {trained.name} model to {mode}"))
    out = files.edgedq_home() / "demos" / "live" / f"{trained.name}.{mode}.tflite"
    out.parent.mkdir(parents=True, exist_ok=True)
    return convert(trained.source, out, [mode], calibration=trained.calibration).variant(mode).path


def live_speech(
    device: Device | str = "local",
    *,
    source: str | None = None,
    seconds: float | None = None,
    mode: str = "dynamic",
    speed: float = 1.0,
    full: bool = False,
    threads: int = 1,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    notify: Events = no_events,
    **connection: Any,
) -> SpeechLiveReport:
    """Spot keywords in a stream on ``device``; ``source`` as ``--source`` (None: the labelled test stream).

    ``seconds`` of stream (None: a file to its end, a microphone or command until Ctrl-C); ``speed`` plays a
    file that many times faster than real time; ``connection``: ``lock_wait``, ``accept_new_host``,
    ``connection``, ``inventory`` as for bench.
    """
    from edgedq.demos import speech

    if speed <= 0:
        raise BadInput(f"--speed must be positive, not {speed}")
    notify(Stage("local", "training the speech model (cached after the first run)"))
    trained = speech.train(quick=not full)
    model = _converted(trained, mode, notify)
    test = None
    if (source or "test") == "test":
        notify(Stage("local", "building the speech test stream (cached after the first run)"))
        test = speech_stream.build()
    plan = sources.speech_source(source, speed, test)
    keywords = [trained.classes.index(word) for word in speech.KEYWORDS]
    body = {**SPOTTER, "frontend": trained.frontend, "classes": trained.classes, "keywords": keywords,
            "threads": threads, "seconds": seconds}  # fmt: skip
    length = plan.file.stat().st_size / 32000.0 if plan.file else None  # 16 kHz x 2 bytes
    expected = min(x for x in (seconds, length) if x is not None) / speed if (seconds or length) else None
    run = session.stream(device, "live_speech", body, model, plan, expected_s=expected, on_event=on_event,
                         notify=notify, **connection)  # fmt: skip
    report = speech_report(run, str(model), mode, plan.text, plan.labels)
    if speed != 1.0:
        report.notes.append(f"the file was played {speed:g}x faster than real time (--speed): the real-time factor "
                            "and window latency still measure the board's work, the pacing does not")  # fmt: skip
    report.notes.append("the speech is SYNTHETIC (espeak-ng): a real voice in a real room will score otherwise")
    return report


def live_vision(
    device: Device | str = "local",
    *,
    source: str | None = None,
    seconds: float | None = VISION_SECONDS,
    fps: float = 30.0,
    mode: str = "dynamic",
    model: str = "face",
    frame_size: tuple[int, int] = (640, 480),
    full: bool = False,
    threads: int = 1,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    notify: Events = no_events,
    **connection: Any,
) -> VisionLiveReport:
    """A vision loop on ``device`` for ``seconds`` (None: until Ctrl-C) at ``fps``: BlazeFace (``model="face"``)
    or the vision demo's digits model (``"digits"``, read off a card in the middle of the picture)."""
    if fps <= 0:
        raise BadInput(f"--fps must be positive, not {fps}")
    body: dict[str, Any] = {"threads": threads, "seconds": seconds, "report_every_s": 1.0}
    if model == "face":
        path, threshold = faces.face_model(mode), FACE_THRESHOLD
        body.update(task="face", threshold=threshold)
    elif model == "digits":
        from edgedq.demos import vision

        notify(Stage("local", "training the digits model (cached after the first run)"))
        trained = vision.train(quick=not full)
        path, threshold = _converted(trained, mode, notify), DIGIT_THRESHOLD
        body.update(task="digits", threshold=threshold, classes=trained.classes, crop=0.5)
    else:
        raise BadInput(f"unknown vision model {model!r}: face or digits")
    test = None
    if (source or "test") == "test":
        notify(Stage("local", "building the vision test stream (cached after the first run)"))
        test = vision_stream.build()
    plan = sources.vision_source(source, fps, frame_size, test)
    run = session.stream(device, "live_vision", body, path, plan, expected_s=seconds, on_event=on_event,
                         notify=notify, **connection)  # fmt: skip
    return vision_report(run, str(path), mode, model, plan.text, fps, threshold, plan.labels)
