"""The live demos' parts, each on real bytes and real processes: the source readers (WAV, raw S16_LE, YUV420,
.npy, commands run as argv), the host's --source specs, the protocol's live events, and keyword scoring."""

from __future__ import annotations

import io
import json
import os
import struct
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest
from edgedq_agent import frames
from edgedq_agent.runtime import AgentFailure
from edgedq_agent.sources import WAITING, audio_source, frame_source, wav_data

from edgedq.demos.live.report import score_keywords
from edgedq.demos.live.sources import speech_source, vision_source
from edgedq.device.protocol import ProtocolViolation, check_event, parse
from edgedq.errors import BadInput


def wav_bytes(samples: np.ndarray, rate: int = 16000, channels: int = 1, extra: bytes = b"") -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as handle:
        handle.setnchannels(channels)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue() + extra


def drain(source, timeout: float = 10.0) -> list:
    """Every item until the end of the stream (the reader's own pace)."""
    items, deadline = [], time.monotonic() + timeout
    source.start()
    try:
        while time.monotonic() < deadline:
            item = source.take(0.5)
            if item is None:
                return items
            if item is not WAITING:
                items.append(item)
    finally:
        source.close()
    raise AssertionError("the source never ended")


def test_a_wav_header_is_read_to_its_data_chunk_and_no_further(tmp_path):
    ramp = np.arange(3200, dtype=np.int16)
    data = wav_bytes(ramp, extra=b"LIST" + struct.pack("<I", 4) + b"junk")  # a chunk after the samples
    start, size = wav_data(data[:4096])
    assert size == 6400 and np.array_equal(np.frombuffer(data[start : start + size], "<i2"), ramp)
    path = tmp_path / "ramp.wav"
    path.write_bytes(data)
    items = drain(audio_source({"kind": "file", "path": str(path), "format": "wav", "speed": 50.0}, 320))
    assert [len(i.data) for i in items] == [640] * 10  # the LIST chunk is not audio
    assert np.array_equal(np.frombuffer(b"".join(i.data for i in items), "<i2"), ramp)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"not a wav file at all", "not a WAV file"),
        (wav_bytes(np.zeros(100), rate=44100), "44100 Hz"),
        (wav_bytes(np.zeros(200), channels=2), "2 channel"),
    ],
)
def test_a_wav_the_spotter_cannot_take_is_refused_saying_what_it_is(data, message):
    with pytest.raises(AgentFailure, match=message) as caught:
        wav_data(data)
    assert caught.value.code == "bad_source"


def test_a_raw_file_is_paced_to_real_time(tmp_path):
    """Each 20 ms chunk is released when its last sample would have been captured."""
    path = tmp_path / "tone.raw"
    path.write_bytes((np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes())  # one second
    started = time.perf_counter()
    items = drain(audio_source({"kind": "file", "path": str(path), "format": "s16le"}, 320))
    arrivals = np.array([i.arrived for i in items]) - started
    assert len(items) == 50
    expected = (np.arange(50) + 1) * 0.02
    assert np.all(arrivals >= expected - 0.002)  # never early
    assert float(np.median(arrivals - expected)) < 0.01  # and on time


def test_yuv420_round_trips_and_its_chroma_is_where_the_camera_puts_it():
    rng = np.random.default_rng(0)
    smooth = frames.resize(rng.integers(0, 256, (3, 4, 3)).astype(np.uint8), 48, 64)  # colours change slowly
    image = np.clip(smooth, 0, 255).astype(np.uint8)
    data = frames.rgb_to_i420(image)
    assert len(data) == 64 * 48 * 3 // 2
    back = frames.i420_to_rgb(data, 64, 48)
    assert float(np.abs(back.astype(int) - image.astype(int)).mean()) < 3.0
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    y, u, v = np.frombuffer(frames.rgb_to_i420(red), np.uint8).reshape(-1)[[0, 16, 20]]
    assert (y, u, v) == (82, 90, 240)  # BT.601 limited range red


def test_a_yuv_file_plays_at_its_fps_and_a_slow_loop_drops_frames(tmp_path):
    image = np.full((48, 64, 3), 100, np.uint8)
    path = tmp_path / "frames.yuv"
    path.write_bytes(frames.rgb_to_i420(image) * 20)
    spec = {"kind": "file", "path": str(path), "format": "yuv420", "width": 64, "height": 48, "fps": 50}
    source = frame_source(spec).start()
    taken = []
    try:
        while True:
            item = source.take(1.0)
            if item is None:
                break
            taken.append(item.index)
            time.sleep(0.05)  # a model at 20 fps, fed at 50
    finally:
        source.close()
    assert source.dropped > 5 and len(taken) + source.dropped == 20
    assert taken == sorted(taken) and taken[-1] == 19  # always the newest frame


def test_npy_frames_rgb_and_grey_are_read_and_other_arrays_refused(tmp_path):
    np.save(tmp_path / "rgb.npy", np.zeros((3, 8, 8, 3), np.uint8))
    np.save(tmp_path / "grey.npy", np.zeros((2, 8, 8), np.uint8))
    np.save(tmp_path / "float.npy", np.zeros((2, 8, 8, 3), np.float32))
    for name, count in (("rgb", 3), ("grey", 2)):
        spec = {"kind": "file", "path": str(tmp_path / f"{name}.npy"), "format": "npy", "fps": 200}
        items = drain(frame_source(spec))
        assert len(items) == count and frames.as_rgb(items[-1].data).shape == (8, 8, 3)
    source = frame_source({"kind": "file", "path": str(tmp_path / "float.npy"), "format": "npy", "fps": 200})
    with pytest.raises(AgentFailure, match="must be uint8"):
        drain(source)


def test_a_command_runs_as_an_argv_without_a_shell_in_the_agents_folder(tmp_path, monkeypatch):
    """What a shell would expand or run stays text: ``$HOME`` and ``; touch`` reach printf as arguments."""
    monkeypatch.chdir(tmp_path)
    argv = speech_source('cmd:printf "%s|%s|" "$HOME; touch pwned" `pwd`').spec["argv"]
    assert argv == ["printf", "%s|%s|", "$HOME; touch pwned", "`pwd`"]
    items = drain(audio_source({"kind": "cmd", "argv": argv}, 4))
    text = b"".join(i.data for i in items).decode()
    assert text.startswith("$HOME; touch pwned|`pwd`") and not (tmp_path / "pwned").exists()  # whole chunks only
    where = drain(audio_source({"kind": "cmd", "argv": [sys.executable, "-c", "import os; print(os.getcwd(), end='')"]},
                               1))  # fmt: skip
    assert b"".join(i.data for i in where).decode() == os.getcwd()


def test_a_missing_tool_and_a_failing_command_say_what_happened(tmp_path):
    with pytest.raises(AgentFailure, match="cannot start no-such-recorder") as missing:
        audio_source({"kind": "cmd", "argv": ["no-such-recorder", "-q"]}, 320).start()
    assert missing.value.code == "source_missing"
    failing = audio_source({"kind": "cmd", "argv": ["sh", "-c", "echo no microphone here >&2; exit 3"]}, 320)
    with pytest.raises(AgentFailure, match="exited with status 3: no microphone here") as failed:
        drain(failing)
    assert failed.value.code == "source_failed"


def test_the_microphone_and_cameras_are_read_through_their_tools():
    from edgedq_agent.sources import process_argv

    assert process_argv({"kind": "mic", "device": "plughw:1,0"}) == [
        "arecord", "-q", "-t", "raw", "-f", "S16_LE", "-r", "16000", "-c", "1", "-D", "plughw:1,0"]  # fmt: skip
    camera = process_argv({"kind": "camera", "width": 640, "height": 480, "fps": 30})
    assert camera[1:] == ["-n", "-t", "0", "--codec", "yuv420", "--width", "640", "--height", "480",
                          "--framerate", "30", "-o", "-"]  # fmt: skip
    v4l2 = process_argv({"kind": "v4l2", "device": "/dev/video2", "width": 320, "height": 240, "fps": 15})
    assert v4l2[0] == "ffmpeg" and v4l2[v4l2.index("-i") + 1] == "/dev/video2" and "yuv420p" in v4l2


def test_source_specs_are_checked_on_the_host(tmp_path):
    with pytest.raises(BadInput, match="unknown speech source"):
        speech_source("microphone")
    with pytest.raises(BadInput, match="no such file"):
        speech_source(f"file:{tmp_path / 'missing.wav'}")
    with pytest.raises(BadInput, match="paces files only"):
        speech_source("mic", speed=4.0)
    with pytest.raises(BadInput, match="needs a command"):
        speech_source("cmd:")
    (tmp_path / "odd.yuv").write_bytes(b"\0" * 1000)
    with pytest.raises(BadInput, match="not whole 64x48 YUV420 frames"):
        vision_source(f"file:{tmp_path / 'odd.yuv'}", 30, (64, 48))
    wav = tmp_path / "clip.wav"
    wav.write_bytes(wav_bytes(np.zeros(1600)))
    (tmp_path / "clip.json").write_text(json.dumps({"keywords": [{"keyword": "yes", "start": 0.1, "end": 0.4}]}))
    plan = speech_source(f"file:{wav}")
    assert plan.spec == {"kind": "file", "format": "wav", "speed": 1.0} and plan.file == wav
    assert plan.labels == {"keywords": [{"keyword": "yes", "start": 0.1, "end": 0.4}]}
    assert speech_source("mic:plughw:1,0").spec == {"kind": "mic", "device": "plughw:1,0"}
    camera = vision_source("camera", 15, (320, 240)).spec
    assert camera == {"kind": "camera", "format": "yuv420", "width": 320, "height": 240, "fps": 15}


def test_keyword_scoring_counts_hits_within_a_second_misses_and_false_alarms():
    marks = [
        {"keyword": "yes", "start": 1.0, "end": 1.5},
        {"keyword": "no", "start": 5.0, "end": 5.4},
        {"keyword": "up", "start": 9.0, "end": 9.3},
        {"keyword": "left", "start": 58.0, "end": 58.5},  # the stream stopped before it could be found
    ]
    detections = [
        {"time_s": 1.7, "keyword": "yes", "score": 0.9, "latency_ms": 2.0},  # hit, 200 ms after the word
        {"time_s": 2.4, "keyword": "yes", "score": 0.8, "latency_ms": 2.0},  # the same word again: false alarm
        {"time_s": 5.3, "keyword": "down", "score": 0.7, "latency_ms": 2.0},  # wrong word: false alarm (no: miss)
        {"time_s": 10.4, "keyword": "up", "score": 0.9, "latency_ms": 2.0},  # 1.1 s late: false alarm (up: miss)
    ]
    score = score_keywords(detections, marks, seconds=58.6)
    assert (score["hits"], score["misses"], score["false_alarms"]) == (1, 2, 3)
    assert score["false_alarms_per_hour"] == pytest.approx(3 * 3600 / 58.6)
    assert score["detection_latency_ms"]["p50"] == pytest.approx(202.0)
    assert [m["keyword"] for m in score["missed"]] == ["no", "up"]


def test_live_events_are_checked_like_every_other_message():
    tick = {"kind": "tick", "wall_s": 1.0, "latency_ms": [1.0], "cpu_percent": 5.0, "processed": 1, "dropped": 0,
            "frame": [0], "t_s": [0.1], "score": [0.9], "label": [None]}  # fmt: skip
    assert check_event("live_vision", tick) is tick
    with pytest.raises(ProtocolViolation, match="lists of different lengths"):
        check_event("live_vision", {**tick, "score": [0.9, 0.1]})
    with pytest.raises(ProtocolViolation, match="unknown kind 'detection'"):
        check_event("live_vision", {**tick, "kind": "detection"})
    with pytest.raises(ProtocolViolation, match="keyword"):
        check_event("live_speech", {"kind": "detection", "time_s": 1.0, "keyword": 3, "score": 0.9, "latency_ms": 1})
    with pytest.raises(ProtocolViolation, match="not JSON"):
        parse('{"type": "event", "id": "x", "protocol": 2, "kind": "detection", "score": NaN}')


def test_the_test_streams_are_what_their_labels_say(tmp_path):
    """Built once (cached): 2.5 minutes of 16 kHz speech with 30 held-out keywords, 200 labelled frames."""
    from edgedq.demos import speech
    from edgedq.demos.live import speech_stream, vision_stream

    wav, labels = speech_stream.build()
    with wave.open(str(wav)) as handle:
        assert (handle.getframerate(), handle.getnchannels(), handle.getnframes()) == (16000, 1, 150 * 16000)
    marks = speech_stream.load_labels(labels)
    assert len(marks) == 30 and {m["keyword"] for m in marks} == set(speech.KEYWORDS)
    assert all(speech.held_out(m["voice"]) for m in marks)
    gaps = [b["start"] - a["end"] for a, b in zip(marks, marks[1:], strict=False)]
    assert min(gaps) > 2 * speech_stream.QUIET_S
    stream, frame_labels = vision_stream.build()
    data = vision_stream.load_labels(frame_labels)
    assert Path(stream).stat().st_size == len(data["frames"]) * data["width"] * data["height"] * 3 // 2
    assert sum(f["face"] for f in data["frames"]) == 100 and sum("digit" in f for f in data["frames"]) == 50


def test_a_board_that_throttled_during_the_run_is_warned_about_and_burst_is_kept_apart(tmp_path):
    """What a hot Pi 4 sends (throttle bits from vcgencmd), summarised as the CLI would; no board here heats up."""
    from edgedq.demos.live.report import vision_report
    from edgedq.demos.live.session import LiveRun

    cool = {"temperature_c": 62.0, "governor": "ondemand", "cpu_mhz": 1500.0, "throttled_now": [],
            "throttled_since_boot": []}  # fmt: skip
    hot = {**cool, "temperature_c": 84.5, "cpu_mhz": 1000.0, "throttled_now": ["soft_temperature_limit"],
           "throttled_since_boot": ["soft_temperature_limit", "frequency_capped"]}  # fmt: skip
    ticks = []
    for second in range(20):  # 30 fps for 10 s, then 15 fps as the board throttles
        per_second = 30 if second < 10 else 15
        times = [second + i / per_second for i in range(per_second)]
        ticks.append({"kind": "tick", "wall_s": second + 1.0, "latency_ms": [20.0] * per_second, "cpu_percent": 99.0,
                      "processed": 0, "dropped": 0, "frame": list(range(per_second)), "t_s": times,
                      "score": [0.1] * per_second, "label": [None] * per_second,
                      **({"thermal": hot if second >= 10 else cool} if second % 5 == 0 else {})})  # fmt: skip
    model = tmp_path / "m.tflite"
    model.write_bytes(b"model")
    run = LiveRun("pi4", facts={"thermal": cool}, events=ticks, interrupted=True)
    report = vision_report(run, str(model), "dynamic", "face", "camera", 30.0, 0.5, None)
    assert report.burst["fps"] == pytest.approx(30.0) and report.sustained["fps"] == pytest.approx(15.0, rel=0.02)
    assert report.thermal["throttled"] == ["soft_temperature_limit"]
    assert [r["temperature_c"] for r in report.thermal["over_time"]] == [62.0, 62.0, 84.5, 84.5]
    assert any("throttled" in w for w in report.warnings) and any("interrupted" in n for n in report.notes)
