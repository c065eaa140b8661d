"""Read and write safetensors files with numpy only.

The `safetensors` Python package is not a Debian package, so the reference
checks and the C++ interop tests use this small implementation instead.

Format (https://huggingface.co/docs/safetensors): 8 bytes little-endian u64 N,
then N bytes of UTF-8 JSON (padded with spaces to a multiple of 8), then the
raw little-endian tensor bytes. The JSON maps each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the byte
buffer after the header) plus an optional "__metadata__" {str: str}.

The reader is strict, like the reference Rust implementation: offsets must
tile the buffer exactly (no gaps, no overlaps, no trailing bytes), and every
tensor's byte size must equal numel * dtype size.

CLI (used by the C++ tests):
  safetensors_np.py dump FILE        print a JSON summary (dtype, shape, sum)
  safetensors_np.py sample FILE      write the fixed interop sample
  safetensors_np.py check-sample FILE  assert FILE holds the fixed sample
"""
import json
import os
import struct
import sys

import numpy as np

# safetensors dtype name -> numpy dtype (little-endian)
DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U64": np.dtype("<u8"), "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
MAX_HEADER = 100_000_000


class SafetensorsError(RuntimeError):
    pass


def _dtype_name(arr):
    dt = arr.dtype
    for name, npdt in DTYPES.items():
        if npdt.kind == dt.kind and npdt.itemsize == dt.itemsize:
            return name
    raise SafetensorsError(f"unsupported numpy dtype {arr.dtype}")


def save(path, tensors, metadata=None):
    """Write `tensors` (name -> numpy array) to `path` atomically (tmp + rename)."""
    entries = []
    for name, arr in tensors.items():
        if name == "__metadata__":
            raise SafetensorsError("'__metadata__' is reserved")
        a = np.asarray(arr)
        dname = _dtype_name(a)
        entries.append((name, dname, a))
    # larger elements first so every tensor is aligned to its element size
    entries.sort(key=lambda e: (-DTYPES[e[1]].itemsize, e[0]))
    header = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise SafetensorsError("metadata must map str to str")
        header["__metadata__"] = dict(metadata)
    blobs = []
    offset = 0
    for name, dname, a in entries:
        b = np.ascontiguousarray(a, dtype=DTYPES[dname]).tobytes()
        header[name] = {"dtype": dname, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    hbytes = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    tmp = str(path) + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fail(path, msg):
    raise SafetensorsError(f"safetensors file '{path}': {msg}")


def _no_dup_object(pairs):
    d = {}
    for k, v in pairs:
        if k in d:
            raise ValueError(f"duplicate key '{k}'")
        d[k] = v
    return d


def load(path):
    """Return (tensors: dict name -> numpy array, metadata: dict) from `path`."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        _fail(path, f"file is {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER:
        _fail(path, f"header length {n} exceeds the limit {MAX_HEADER}")
    if 8 + n > len(data):
        _fail(path, f"header length {n} runs past the end of the file ({len(data)} bytes)")
    try:
        text = data[8:8 + n].decode("utf-8")
        header = json.loads(text, object_pairs_hook=_no_dup_object)
    except (UnicodeDecodeError, ValueError) as e:
        _fail(path, f"invalid JSON header: {e}")
    if not isinstance(header, dict):
        _fail(path, "header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        _fail(path, "__metadata__ must be an object of strings")
    buf = memoryview(data)[8 + n:]
    spans = []
    tensors = {}
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            _fail(path, f"tensor '{name}': entry must have exactly dtype, shape, data_offsets")
        dname, shape, offs = info["dtype"], info["shape"], info["data_offsets"]
        if dname not in DTYPES:
            _fail(path, f"tensor '{name}': unknown dtype {dname!r}")
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            _fail(path, f"tensor '{name}': shape must be a list of non-negative integers")
        if (not isinstance(offs, list) or len(offs) != 2
                or not all(isinstance(o, int) and o >= 0 for o in offs) or offs[0] > offs[1]):
            _fail(path, f"tensor '{name}': data_offsets must be [begin, end] with begin <= end")
        nbytes = int(np.prod(shape, dtype=np.int64)) * DTYPES[dname].itemsize
        if offs[1] - offs[0] != nbytes:
            _fail(path, f"tensor '{name}': {dname} shape {shape} needs {nbytes} bytes but "
                        f"data_offsets span {offs[1] - offs[0]}")
        spans.append((offs[0], offs[1], name))
    spans.sort()
    pos = 0
    for b, e, name in spans:
        if b < pos:
            _fail(path, f"tensor '{name}' overlaps the previous tensor (begins at {b} < {pos})")
        if b > pos:
            _fail(path, f"gap in the data buffer before tensor '{name}' ({pos}..{b})")
        pos = e
    if pos > len(buf):
        _fail(path, f"file truncated: tensor data needs {pos} bytes, only {len(buf)} present")
    if pos < len(buf):
        _fail(path, f"{len(buf) - pos} trailing bytes after the last tensor")
    for b, e, name in spans:
        info = header[name]
        arr = np.frombuffer(buf[b:e], dtype=DTYPES[info["dtype"]]).reshape(info["shape"]).copy()
        tensors[name] = arr
    return tensors, metadata


def sample_tensors():
    """The fixed interop sample shared with tests/io (values recomputed on both sides)."""
    m = (np.arange(12, dtype=np.float64).reshape(3, 4) * 0.25 - 1.0)
    return {
        "matrix_f64": m,                                     # 3x4, row-major
        "matrix_f32": (m.T * 0.5).astype(np.float32),        # 4x3
        "vector_f32": np.linspace(-1, 1, 5).astype(np.float32),
        "scalar_f64": np.array(3.5, dtype=np.float64),       # shape []
        "ints_i64": np.array([-3, 0, 7, 1 << 40], dtype=np.int64),
        "bytes_u8": np.array([[0, 255], [17, 42]], dtype=np.uint8),
        "empty_f32": np.zeros((0, 3), dtype=np.float32),
    }, {"format": "pt", "note": "caf\u00e9 \"quoted\"\n"}


def _main(argv):
    if len(argv) != 3 or argv[1] not in ("dump", "sample", "check-sample"):
        print(__doc__, file=sys.stderr)
        return 2
    cmd, path = argv[1], argv[2]
    if cmd == "sample":
        t, md = sample_tensors()
        save(path, t, md)
        return 0
    tensors, md = load(path)
    if cmd == "dump":
        out = {"__metadata__": md}
        for k, v in tensors.items():
            out[k] = {"dtype": _dtype_name(v), "shape": list(v.shape),
                      "sum": float(np.asarray(v, dtype=np.float64).sum())}
        print(json.dumps(out, sort_keys=True))
        return 0
    want, want_md = sample_tensors()
    assert md == want_md, f"metadata {md!r} != {want_md!r}"
    assert set(tensors) == set(want), f"names {sorted(tensors)} != {sorted(want)}"
    for k, w in want.items():
        g = tensors[k]
        assert g.dtype == w.dtype, f"{k}: dtype {g.dtype} != {w.dtype}"
        assert g.shape == w.shape, f"{k}: shape {g.shape} != {w.shape}"
        assert np.array_equal(g, w), f"{k}: values differ:\n{g}\n{w}"
    print("sample OK")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv))
