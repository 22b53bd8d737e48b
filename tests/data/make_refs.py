#!/usr/bin/python3
"""Reference .npy files for tests/test_files.c, written by real NumPy.

Run once by hand from the repository root (needs numpy; Debian: apt-get install python3-numpy):
    /usr/bin/python3 tests/data/make_refs.py
The outputs are committed; the tests themselves do not need Python or NumPy.
Made with NumPy 1.24.2, whose .npy header pads shape[0] for growth (NumPy >= 1.23).
"""
import io
import os

import numpy as np

OUT = os.path.dirname(os.path.abspath(__file__))


def save(name, arr):
    np.save(os.path.join(OUT, name), arr)


def bits32(*words):
    return np.array(words, dtype=np.uint32).view(np.float32)


# --- one small array per dtype, with awkward values -----------------------------------------
save("ref_f4.npy", np.array([[0.0, -0.0, 1.5, -2.25], [np.pi, 1e-38, 3.4e38, np.inf],
                             [-np.inf, 1e-45, 123456.789, -7.0]], dtype=np.float32))
save("ref_f8.npy", np.array([[0.1, -1e-300, 2.5e300], [np.e, -0.0, 5e-324]], dtype=np.float64))
save("ref_f2.npy", np.array([[0.0, 1.0, -2.0, 65504.0, 6e-8], [0.1, -0.333, 1e-5, np.inf, 3.0]],
                            dtype=np.float16))
save("ref_i2.npy", np.array([0, 1, -1, 32767, -32768], dtype=np.int16))           # 1-d: (5,)
save("ref_i4.npy", np.arange(-4, 4, dtype=np.int32).reshape(2, 2, 2) * 123456789)
save("ref_i8.npy", np.array([[0, -1], [2**62, -2**63], [2**63 - 1, 42]], dtype=np.int64))
save("ref_u1.npy", np.array([[0, 1, 2], [127, 128, 255]], dtype=np.uint8))
save("ref_0d.npy", np.array(2.75, dtype=np.float64))                                # 0-d: ()
save("ref_empty.npy", np.zeros((0, 6), dtype=np.float32))
save("ref_long_dim.npy", np.zeros((1, 1, 1, 1, 1, 1, 1, 3), dtype=np.int16))       # 8 dims

# --- format version 2.0 ------------------------------------------------------------------------
with open(os.path.join(OUT, "ref_v2.npy"), "wb") as f:
    np.lib.format.write_array(f, np.arange(6, dtype=np.float32).reshape(2, 3), version=(2, 0))

# --- a zoo-style file grown row by row: np.save of the final array is what appending gives -----
rows = np.arange(3 * 5, dtype=np.float32).reshape(3, 5) / 8
save("ref_append.npy", rows)


# --- the layout of npy-append-array 0.9.x, which wrote the official zoos: a format 2.0 header
# with 64 spare bytes, rewritten in place when rows are appended --------------------------------
def append_array_file(arr):
    header = io.BytesIO()
    np.lib.format.write_array_header_2_0(header, {"descr": np.lib.format.dtype_to_descr(arr.dtype),
                                                  "fortran_order": False, "shape": arr.shape})
    buf = bytearray(header.getvalue())
    buf[8:12] = np.array([len(buf) - 12 + 64], dtype="<u4").tobytes()
    buf[-1] = 32
    buf += b" " * 64
    buf[-1] = 10
    return bytes(buf) + arr.tobytes()


seq = (np.arange(2 * 4, dtype=np.int16).reshape(2, 4) % 6)
with open(os.path.join(OUT, "ref_append_v2.npy"), "wb") as f:
    f.write(append_array_file(seq))
more = np.concatenate([seq, np.array([[5, 4, 3, 2]], dtype=np.int16)])
with open(os.path.join(OUT, "ref_append_v2_more.npy"), "wb") as f:
    f.write(append_array_file(more))

# --- float16 tables ----------------------------------------------------------------------------
# every half -> float32 (bits, as NumPy's npy_halfbits_to_floatbits)
save("ref_f16_to_f32.npy", np.arange(65536, dtype=np.uint32).astype(np.uint16).view(np.float16)
     .astype(np.float32))

# float32 -> half for tricky values, then the same for float64 -> half (rounded once)
ulp = 2.0 ** -10
tricky = [0.0, 1.0, 1 + ulp / 2, 1 + 3 * ulp / 2, 1 + ulp / 2 + 2**-23, 1 + ulp / 2 - 2**-23,
          2.0 - ulp / 4, 2**-24, 2**-25, 2**-25 + 2**-40, 2**-25 - 2**-40, 3 * 2**-25, 5 * 2**-25,
          2**-26, 2**-14, 2**-14 - 2**-25, 2**-14 - 2**-26, 1023 * 2**-24, 1023.5 * 2**-24,
          2**-14 + 2**-25, 1e-8, 1e-45, 1.17549435e-38, 65504.0, 65519.0, 65519.99, 65520.0,
          65535.0, 65536.0, 1e10, 3.4028235e38, np.inf, 0.1, 1 / 3, 2048.5, 2049.0, 4095.0, 0.5]
f32 = np.array(tricky, dtype=np.float32)
f32 = np.concatenate([f32, -f32, bits32(0x7fc00000, 0x7f800001, 0x7f801fff, 0x7f802000, 0xffc00001,
                                        0x7fa00000, 0x7fffffff, 0xff800001, 0x00000001, 0x807fffff)])
rng = np.random.default_rng(1234)
random_bits = (rng.integers(0x30000000, 0x48000000, 3000, dtype=np.uint32)
               | (rng.integers(0, 2, 3000, dtype=np.uint32) << 31))
f32 = np.concatenate([f32, random_bits.view(np.float32)])
with np.errstate(over="ignore"):
    save("ref_f32_to_f16_in.npy", f32)
    save("ref_f32_to_f16_out.npy", f32.astype(np.float16))

f64 = np.array(tricky + [1 + ulp / 2 + 2**-40, 1 + ulp / 2 - 2**-40, 2**-25 + 2**-60, 65519.999999,
                         5e-324, 1e-300, 1e300], dtype=np.float64)
f64 = np.concatenate([f64, -f64, np.array([0x7ff8000000000000, 0x7ff0000000000001, 0x7ff0040000000000,
                                           0xfff0000000000001, 0x7fffffffffffffff], dtype=np.uint64)
                      .view(np.float64)])
random_bits64 = (rng.integers(0x3e50000000000000, 0x4100000000000000, 3000, dtype=np.uint64)
                 | (rng.integers(0, 2, 3000, dtype=np.uint64) << np.uint64(63)))
f64 = np.concatenate([f64, random_bits64.view(np.float64)])
with np.errstate(over="ignore"):
    save("ref_f64_to_f16_in.npy", f64)
    save("ref_f64_to_f16_out.npy", f64.astype(np.float16))
