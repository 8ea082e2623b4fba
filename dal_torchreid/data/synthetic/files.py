"""Byte-reproducible writers for the generated images and side files.

PNG is encoded here (SUB filter, Huffman-only deflate) because it is three
times faster than cv2/PIL on these small noisy frames and has no timestamps;
JPEG goes through cv2 with fixed parameters; MATLAB files get a fixed header
instead of scipy's creation time.
"""
from __future__ import annotations

import io
import json
import struct
import zlib
import os.path as osp

import cv2
import numpy as np
from scipy.io import savemat

_MAT_HEADER_BYTES = 116
_JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 92, cv2.IMWRITE_JPEG_OPTIMIZE, 0,
                cv2.IMWRITE_JPEG_PROGRESSIVE, 0]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))


def encode_png(image: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 RGB image as PNG."""
    h, w, _ = image.shape
    rows = image.reshape(h, w * 3)
    filtered = np.empty((h, w * 3 + 1), np.uint8)
    filtered[:, 0] = 1  # SUB: each byte minus the same channel of the pixel to its left
    filtered[:, 1:4] = rows[:, :3]
    np.subtract(rows[:, 3:], rows[:, :-3], out=filtered[:, 4:])
    deflate = zlib.compressobj(1, zlib.DEFLATED, 15, 8, zlib.Z_HUFFMAN_ONLY)
    data = deflate.compress(filtered.tobytes()) + deflate.flush()
    header = struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)
    return (b'\x89PNG\r\n\x1a\n' + _png_chunk(b'IHDR', header)
            + _png_chunk(b'IDAT', data) + _png_chunk(b'IEND', b''))


def encode_jpeg(image: np.ndarray) -> bytes:
    """Encode an (H, W, 3) uint8 RGB image as baseline JPEG, quality 92."""
    ok, data = cv2.imencode('.jpg', np.ascontiguousarray(image[:, :, ::-1]), _JPEG_PARAMS)
    if not ok:
        raise RuntimeError(f'cv2 could not encode a JPEG of shape {image.shape}')
    return data.tobytes()


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, 'wb') as f:
        f.write(data)


def write_image(path: str, image: np.ndarray) -> None:
    """Write ``image`` as PNG or JPEG, chosen by the suffix of ``path``."""
    suffix = osp.splitext(path)[1].lower()
    if suffix == '.png':
        _write_bytes(path, encode_png(image))
    elif suffix in ('.jpg', '.jpeg'):
        _write_bytes(path, encode_jpeg(image))
    else:
        raise ValueError(f'cannot write image {path}: suffix {suffix!r} is not .png or .jpg')


def write_mat(path: str, variables: dict) -> None:
    """Write a MATLAB 5 file whose header carries no creation time."""
    buffer = io.BytesIO()
    savemat(buffer, variables, do_compression=False, oned_as='row')
    data = bytearray(buffer.getvalue())
    header = b'MATLAB 5.0 MAT-file, written by dal_torchreid synthetic data'
    data[:_MAT_HEADER_BYTES] = header.ljust(_MAT_HEADER_BYTES, b' ')
    _write_bytes(path, bytes(data))


def write_text(path: str, text: str) -> None:
    with open(path, 'w') as f:
        f.write(text)


def write_json(path: str, obj) -> None:
    """Write JSON formatted as torchreid's ``write_json`` does."""
    write_text(path, json.dumps(obj, indent=4, separators=(',', ': ')))
