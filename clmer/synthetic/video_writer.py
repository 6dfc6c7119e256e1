"""Write real video files with PyAV: H.264 + AAC mp4 by default, other containers on request.

Used by the demo corpus and by the tests that need real files in every container.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np

# container suffix -> (video codec, audio codec, pixel format)
CODECS: dict[str, tuple[str, str, str]] = {
    ".mp4": ("libx264", "aac", "yuv420p"),
    ".mov": ("libx264", "aac", "yuv420p"),
    ".m4v": ("libx264", "aac", "yuv420p"),
    ".mkv": ("libx264", "aac", "yuv420p"),
    ".webm": ("libvpx-vp9", "libopus", "yuv420p"),
    ".avi": ("mpeg4", "libmp3lame", "yuv420p"),
}
_AUDIO_RATE = {"libopus": 48000}


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray] | None,
    fps: int = 10,
    audio: np.ndarray | None = None,
    sample_rate: int = 22050,
    gop: int | None = None,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    rotation: int | None = None,
    fast: bool = True,
    pix_fmt: str | None = None,
) -> Path:
    """Encode RGB frames (HxWx3 uint8) and/or mono float audio into `path`; returns the path.

    `frames=None` writes an audio-only file, `audio=None` a silent-free video-only one.
    """
    import av

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CODECS:
        raise ValueError(f"{path}: no codec choice for {suffix!r}; choose one of {sorted(CODECS)}")
    vcodec, acodec, default_pix = CODECS[suffix]
    vcodec, acodec, pix_fmt = video_codec or vcodec, audio_codec or acodec, pix_fmt or default_pix
    frame_iter = iter(frames) if frames is not None else None
    first = next(frame_iter, None) if frame_iter is not None else None
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        vstream = astream = None
        if first is not None:
            vstream = out.add_stream(vcodec, rate=fps)
            vstream.height, vstream.width = first.shape[:2]
            vstream.pix_fmt = pix_fmt
            if gop:
                vstream.codec_context.gop_size = gop
            opts = {}
            if vcodec == "libx264" and fast:
                opts.update(preset="veryfast", crf="28")
            if vcodec == "libvpx-vp9" and fast:
                opts.update(deadline="realtime", speed="8", crf="40", **{"b": "0"})
            vstream.options = opts
            if rotation is not None:
                vstream.metadata["rotate"] = str(rotation)
        if audio is not None:
            rate = _AUDIO_RATE.get(acodec, sample_rate)
            astream = out.add_stream(acodec, rate=rate)
            astream.layout = "mono"
            if rate != sample_rate:
                audio = _resample(audio, sample_rate, rate)
                sample_rate = rate
        _encode(out, vstream, first, frame_iter, astream, audio, sample_rate)
    return path


def _encode(out, vstream, first, rest, astream, audio, sample_rate: int) -> None:
    """Interleave by time (a video frame, then the audio up to its end) so memory stays flat."""
    import av

    audio_pos = 0
    samples = np.clip(np.asarray(audio, dtype=np.float32), -1.0, 1.0) if astream is not None else None
    step = (astream.codec_context.frame_size or 1024) if astream is not None else 0

    def push_audio(until: int) -> int:
        pos = audio_pos
        while pos < min(until, len(samples)):
            _encode_audio_chunk(out, astream, samples[pos: pos + step], pos, sample_rate)
            pos += step
        return pos

    if vstream is not None:
        fps = int(vstream.average_rate or 1)
        frames = [first] if first is not None else []
        for i, img in enumerate(_chain(frames, rest)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img, dtype=np.uint8), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vstream.encode(frame):
                out.mux(packet)
            if samples is not None:
                audio_pos = push_audio(int((i + 1) * sample_rate / fps))
        for packet in vstream.encode():
            out.mux(packet)
    if samples is not None:
        push_audio(len(samples))
        for packet in astream.encode():
            out.mux(packet)


def _chain(head: list, rest):
    yield from head
    if rest is not None:
        yield from rest


def _encode_audio_chunk(out, stream, chunk: np.ndarray, start: int, sample_rate: int) -> None:
    import av

    fmt = stream.codec_context.format.name  # the encoder's native sample format
    if fmt in ("s16", "s16p"):
        data = (chunk * 32767).astype(np.int16)[None, :]
    else:
        data = chunk[None, :]
        fmt = "fltp" if fmt.endswith("p") else "flt"
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = start
    frame.time_base = Fraction(1, sample_rate)
    for packet in stream.encode(frame):
        out.mux(packet)


def _resample(audio: np.ndarray, src: int, dst: int) -> np.ndarray:
    from scipy.signal import resample_poly
    from math import gcd

    g = gcd(src, dst)
    return resample_poly(np.asarray(audio, dtype=np.float32), dst // g, src // g).astype(np.float32)
