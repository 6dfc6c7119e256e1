"""Media probing and one-pass decoding with PyAV (its wheel bundles FFmpeg: no system packages).

`decode()` opens a file once and reads it once, through a `clmer.data.files.MediaReader` that hashes
it on the way: every audio packet is decoded and resampled to 16 kHz mono float32; video is sampled
at one frame every `frame_interval_s`, and only the GOPs (keyframe to keyframe) that hold a sampling
target are decoded (what seeking would buy, without seeking). Kept frames are downscaled: memory is
bounded by audio length plus a few small frames.

Broken files raise a `MediaError` naming the file and the reason. A missing audio or video stream
is not fatal: it is listed in `DecodedMedia.missing` and the other modalities go on.
"""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from clmer.data import files

# Magic bytes of the containers we read; a file that has one but will not open is truncated or
# corrupt, a file that has none is not media at all.
_SIGNATURES: tuple[tuple[int, bytes], ...] = (
    (4, b"ftyp"), (4, b"moov"), (4, b"mdat"), (4, b"free"), (4, b"wide"), (4, b"skip"),  # mp4/mov
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM
    (0, b"RIFF"),  # AVI / WAV
    (0, b"FLV"), (0, b"OggS"), (0, b"\x00\x00\x01\xba"), (0, b"\x00\x00\x01\xb3"), (0, b"G"),  # flv ogg mpeg ts
    (0, b"\x30\x26\xb2\x75"),  # ASF / WMV
    (0, b"ID3"), (0, b"\xff\xfb"), (0, b"fLaC"),
)
# Only demuxers for self-contained media files. FFmpeg's playlist-like demuxers (concat, hls, ...)
# open further files named inside the file: a drop could make them read outside itself, or open a
# FIFO beside them and hang forever.
DEMUXERS = "mov,mp4,matroska,webm,avi,flv,mpeg,mpegts,asf,ogg,wav,mp3,flac,aac"
_GOP_PACKET_CAP = 600  # beyond this many buffered packets a GOP is decoded live (bounded memory)


class MediaError(Exception):
    """A file that cannot be decoded, with the file and the reason."""

    kind = "media_error"

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class FileMissingError(MediaError):
    kind = "missing"


class EmptyFileError(MediaError):
    kind = "zero_byte"


class NotMediaError(MediaError):
    kind = "not_media"


class TruncatedMediaError(MediaError):
    kind = "truncated"


class ZeroDurationError(MediaError):
    kind = "zero_duration"


class LimitExceededError(MediaError):
    kind = "limit_exceeded"


@dataclass
class MediaProbe:
    """What a file holds, read from the container headers without decoding."""

    path: str
    size_bytes: int
    container: str
    duration_s: float | None
    has_video: bool
    has_audio: bool
    video_codec: str | None = None
    audio_codec: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None

    def as_row(self) -> dict:
        return dict(self.__dict__)


@dataclass
class DecodedMedia:
    path: str
    probe: MediaProbe
    audio: np.ndarray  # float32 mono in [-1, 1]; empty if no audio stream
    sample_rate: int
    frames: list[np.ndarray]  # HxWx3 uint8 RGB, downscaled
    frame_times: list[float]  # seconds, one per frame
    missing: list[str] = field(default_factory=list)  # subset of {"audio", "video"}
    warnings: list[str] = field(default_factory=list)
    sha256: str | None = None  # of the whole file, from the bytes this decode read
    bytes_read: int = 0  # bytes read from the file to decode and hash it

    @property
    def audio_seconds(self) -> float:
        return len(self.audio) / self.sample_rate if self.sample_rate else 0.0

    @property
    def duration_s(self) -> float:
        last_frame = self.frame_times[-1] if self.frame_times else 0.0
        return max(self.audio_seconds, self.probe.duration_s or 0.0, last_frame)


def _looks_like_media(reader: files.MediaReader) -> bool:
    reader.seek(0)
    head = reader.read(16)
    return any(head[off: off + len(sig)] == sig for off, sig in _SIGNATURES)


def _check_size(name: str, size: int, max_bytes: int | None) -> None:
    if size == 0:
        raise EmptyFileError(name, "zero-byte file")
    if max_bytes is not None and size > max_bytes:
        raise LimitExceededError(name, f"file is {size} bytes, over the limit of {max_bytes}")


def open_checked(path: str | Path, root: str | Path | None, max_bytes: int | None) -> int:
    """The one way a media input is opened: as `clmer.data.files.open_input` does (a regular file,
    under `root` without following links), with the size limits checked. The caller closes it."""
    try:
        fd = files.open_input(path, root)
    except FileNotFoundError:
        raise FileMissingError(path, "file does not exist") from None
    try:
        _check_size(str(path), os.fstat(fd).st_size, max_bytes)
    except MediaError:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _reading(source: "str | Path | files.MediaReader", name: str | None, max_bytes: int | None):
    """(reader, name) for a path (opened here, as a file the user named) or an open `MediaReader`."""
    if isinstance(source, files.MediaReader):
        _check_size(name or "media", source.size, max_bytes)
        yield source, name or "media"
        return
    fd = open_checked(source, None, max_bytes)
    try:
        yield files.MediaReader(fd), name or str(source)
    finally:
        os.close(fd)


def _open(reader: files.MediaReader, name: str):
    import av

    try:
        return av.open(reader, metadata_errors="ignore", container_options={"format_whitelist": DEMUXERS})
    except av.error.FFmpegError as exc:
        if _looks_like_media(reader):
            raise TruncatedMediaError(name, f"truncated or corrupt container ({exc.__class__.__name__}: {exc})") from exc
        raise NotMediaError(name, f"not a media file ({exc.__class__.__name__})") from exc


def _duration(container, streams) -> float | None:
    if container.duration:
        return container.duration / 1_000_000
    best = None
    for s in streams:
        if s.duration and s.time_base:
            d = float(s.duration * s.time_base)
            best = d if best is None else max(best, d)
    return best


def probe(source: "str | Path | files.MediaReader", max_bytes: int | None = None, name: str | None = None) -> MediaProbe:
    """Container, streams, duration, size, codec, fps: headers only, no decoding."""
    with _reading(source, name, max_bytes) as (reader, name):
        with _open(reader, name) as container:
            return _probe_open(container, name, reader.size)


def _probe_open(container, name: str, size: int) -> MediaProbe:
    v = container.streams.video[0] if container.streams.video else None
    a = container.streams.audio[0] if container.streams.audio else None
    if v is None and a is None:
        raise NotMediaError(name, "no audio or video stream")
    rate = (v.average_rate or v.guessed_rate) if v is not None else None
    return MediaProbe(
        path=name, size_bytes=size, container=container.format.name,
        duration_s=_duration(container, [s for s in (v, a) if s is not None]), has_video=v is not None,
        has_audio=a is not None, video_codec=v.codec_context.name if v is not None else None,
        audio_codec=a.codec_context.name if a is not None else None,
        width=v.codec_context.width if v is not None else None, height=v.codec_context.height if v is not None else None,
        fps=float(rate) if rate else None, audio_sample_rate=a.codec_context.sample_rate if a is not None else None,
        audio_channels=a.codec_context.channels if a is not None else None,
    )


class _FrameSampler:
    """Keeps the first frame at or after each target time, downscaled and upright."""

    def __init__(self, interval: float, max_side: int, max_frames: int):
        self.interval = interval
        self.max_side = max_side
        self.max_frames = max_frames
        self.next_target = 0.0
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []

    @property
    def full(self) -> bool:
        return len(self.frames) >= self.max_frames

    def wants_span(self, end_time: float | None) -> bool:
        """Whether a GOP ending (exclusive) at `end_time` holds a target; None = open-ended."""
        return not self.full and (end_time is None or self.next_target < end_time)

    def offer(self, frame, t: float | None) -> None:
        if t is None or self.full or t + 1e-6 < self.next_target:
            return
        self.frames.append(_to_rgb(frame, self.max_side))
        self.times.append(round(t, 3))
        # Jump past every target this frame covers (sparse or variable frame rates).
        self.next_target = (math.floor(t / self.interval + 1e-6) + 1) * self.interval


def _frame_time(frame) -> float | None:
    t = frame.time
    if t is None and frame.pts is not None and frame.time_base is not None:
        t = frame.pts * frame.time_base
    return None if t is None or not math.isfinite(float(t)) else float(t)


def _to_rgb(frame, max_side: int) -> np.ndarray:
    w, h = frame.width, frame.height
    scale = min(1.0, max_side / max(w, h))
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    img = frame.reformat(width=tw, height=th, format="rgb24").to_ndarray()
    rotation = getattr(frame, "rotation", 0) or 0
    # The display matrix says how far to turn the stored picture to show it upright.
    turns = int(round(rotation / 90)) % 4
    if turns:
        img = np.ascontiguousarray(np.rot90(img, k=turns))
    return img


class _AudioSink:
    def __init__(self, sample_rate: int):
        import av

        self.resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        self.chunks: list[np.ndarray] = []

    def add(self, frame) -> None:
        for out in self.resampler.resample(frame):
            self.chunks.append(out.to_ndarray().reshape(-1))

    def finish(self) -> np.ndarray:
        for out in self.resampler.resample(None):
            self.chunks.append(out.to_ndarray().reshape(-1))
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        # AAC can overshoot +-1 after decoding; downstream models expect [-1, 1].
        return np.clip(np.concatenate(self.chunks), -1.0, 1.0).astype(np.float32, copy=False)


def decode(
    source: "str | Path | files.MediaReader",
    sample_rate: int = 16000,
    frame_interval_s: float = 2.0,
    frame_max_side: int = 320,
    max_frames: int = 1800,
    max_bytes: int | None = None,
    max_duration_s: float | None = None,
    dense_interval_s: float | None = None,
    dense_max_duration_s: float = 0.0,
    name: str | None = None,
) -> DecodedMedia:
    """One pass over a file (a path, or an open `MediaReader`; `name` names it in errors): 16 kHz
    mono float32 audio and one frame every `frame_interval_s`, or every `dense_interval_s` when the
    clip is no longer than `dense_max_duration_s` (explanations need enough candidate frames on
    short clips). The container is opened once, for its headers and its packets; the result carries
    the file's sha256, hashed from the very bytes decoded, and how many bytes were read."""
    with _reading(source, name, max_bytes) as (reader, name):
        container = _open(reader, name)
        try:
            info = _probe_open(container, name, reader.size)
            if max_duration_s is not None and info.duration_s and info.duration_s > max_duration_s:
                raise LimitExceededError(name, f"duration {info.duration_s:.1f} s is over the limit of "
                                               f"{max_duration_s:.0f} s")
            if dense_interval_s and info.duration_s and info.duration_s <= dense_max_duration_s:
                frame_interval_s = dense_interval_s
            sampler = _FrameSampler(frame_interval_s, frame_max_side, max_frames)
            sink = _AudioSink(sample_rate)
            v = container.streams.video[0] if info.has_video else None
            a = container.streams.audio[0] if info.has_audio else None
            if v is not None:
                v.thread_type = "SLICE"
            error, last_time = _demux(container, [s for s in (v, a) if s is not None], v, sampler, sink,
                                      max_duration_s, name)
        finally:
            container.close()
        sha256 = reader.hexdigest()
        decoded = _assemble(info, sink.finish() if a is not None else np.zeros(0, dtype=np.float32), sample_rate,
                            sampler, error, last_time, name)
        decoded.sha256, decoded.bytes_read = sha256, reader.bytes_read
        return decoded


def _assemble(info: MediaProbe, audio: np.ndarray, sample_rate: int, sampler: "_FrameSampler", error: str | None,
              last_time: float, name: str) -> DecodedMedia:
    """What was decoded, with what is missing or cut short said in `missing` and `warnings`."""
    missing = [m for m, has in (("audio", info.has_audio), ("video", info.has_video)) if not has]
    warnings: list[str] = []
    if error:
        decoded = max(len(audio) / sample_rate, sampler.times[-1] if sampler.times else 0.0)
        if decoded <= 0:
            raise TruncatedMediaError(name, f"nothing decodable ({error})")
        warnings.append(f"truncated: decoding stopped at {decoded:.1f} s ({error})")
    elif info.duration_s:
        # Some containers (Matroska, AVI) just end early when cut: compare with the header.
        decoded = max(len(audio) / sample_rate, last_time)
        if decoded < 0.9 * info.duration_s - 0.5:
            warnings.append(f"truncated: decoded {decoded:.1f} s of the {info.duration_s:.1f} s the header declares")
    if info.has_audio and len(audio) == 0:
        missing.append("audio")
        warnings.append("audio stream holds no samples")
    if info.has_video and not sampler.frames:
        missing.append("video")
        warnings.append("video stream holds no decodable frames")
    if len(audio) == 0 and not sampler.frames:
        raise ZeroDurationError(name, "no audio samples and no video frames (zero duration)")
    return DecodedMedia(path=name, probe=info, audio=audio, sample_rate=sample_rate, frames=sampler.frames,
                        frame_times=sampler.times, missing=sorted(set(missing)), warnings=warnings)


class _GopDecoder:
    """Buffers one GOP of video packets; decodes it only if it holds a sampling target.

    Frames drained from the decoder can come out without a timestamp; they are then given the
    k-th smallest packet pts of their GOP (frames leave the decoder in presentation order).
    """

    def __init__(self, stream, sampler: _FrameSampler):
        self.cc = stream.codec_context
        self.sampler = sampler
        self.packets: list = []
        self.pts: list[float] = []  # presentation times of this GOP's packets
        self.emitted = 0
        self.mode = "buffer"  # buffer | live (decode as they come) | drop (not wanted)

    def add(self, packet) -> None:
        t = _packet_time(packet)
        if packet.is_keyframe and self.pts:
            self.close(t)
        if t is not None:
            self.pts.append(t)
        if self.mode == "live":
            self._decode(packet)
        elif self.mode == "buffer":
            self.packets.append(packet)
            if len(self.packets) > _GOP_PACKET_CAP:  # a GOP too long to hold: decide now
                if self.sampler.wants_span(None):
                    for pk in self.packets:
                        self._decode(pk)
                    self.mode = "live"
                else:
                    self.mode = "drop"
                self.packets = []

    def close(self, next_keyframe_time: float | None) -> None:
        if self.mode == "buffer" and self.packets and self.sampler.wants_span(next_keyframe_time):
            for pk in self.packets:
                self._decode(pk)
                if not self.sampler.wants_span(next_keyframe_time):
                    break  # this GOP's targets are taken: the rest of it need not be decoded
            self.mode = "live"
        if self.mode == "live":
            for frame in self.cc.decode(None):  # the delayed (B-)frames
                self._offer(frame)
            self.cc.flush_buffers()  # reset, so the next GOP may be skipped undecoded
        self.packets, self.pts, self.emitted, self.mode = [], [], 0, "buffer"

    def _decode(self, packet) -> None:
        for frame in self.cc.decode(packet):
            self._offer(frame)

    def _offer(self, frame) -> None:
        t = _frame_time(frame)
        if t is None and self.emitted < len(self.pts):
            t = sorted(self.pts)[self.emitted]
        self.emitted += 1
        self.sampler.offer(frame, t)


def _demux(container, streams, v, sampler: _FrameSampler, sink: _AudioSink, max_duration_s, path) -> tuple[str | None, float]:
    """The single pass. Returns (error description if the data ended corrupt, last packet time)."""
    import av

    last_time = 0.0
    gops = _GopDecoder(v, sampler) if v is not None else None
    try:
        for packet in container.demux(*streams):
            if packet.size == 0:
                continue  # flush markers: draining is done explicitly below
            last_time = max(last_time, _packet_time(packet) or 0.0)
            if gops is not None and packet.stream.index == v.index:
                gops.add(packet)
            else:
                for frame in packet.decode():
                    sink.add(frame)
                if max_duration_s and last_time > max_duration_s:
                    raise LimitExceededError(path, f"audio runs past the {max_duration_s:.0f} s limit")
        if gops is not None:
            gops.close(None)
    except av.error.FFmpegError as exc:
        return f"{exc.__class__.__name__}: {exc}", last_time
    return None, last_time


def _packet_time(packet) -> float | None:
    return float(packet.pts * packet.time_base) if packet.pts is not None and packet.time_base else None


def decode_kwargs(settings) -> dict:
    """`decode`'s keyword arguments from the media settings and limits of a `clmer.config.Settings`."""
    m, lim = settings.media, settings.limits
    return dict(sample_rate=m.sample_rate, frame_interval_s=m.frame_interval_s, frame_max_side=m.frame_max_side,
                max_frames=m.max_frames, max_bytes=lim.max_file_bytes, max_duration_s=lim.max_duration_s,
                dense_interval_s=m.dense_frame_interval_s, dense_max_duration_s=m.dense_max_duration_s)


def decode_for(path: str | Path, settings) -> DecodedMedia:
    """`decode` with a `Settings`' media options, in this process (extraction uses `decode_worker`)."""
    return decode(path, **decode_kwargs(settings))
