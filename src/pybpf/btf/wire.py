"""The fixed-size pieces of the BTF wire format (linux/btf.h), shared by the decoder
(blob.py) and the encoder (encode.py)."""

from __future__ import annotations

import struct

HDR = struct.Struct("<HBBIIIII")  # struct btf_header
TYPE = struct.Struct("<III")  # struct btf_type: name_off, info, size/type
U32 = struct.Struct("<I")
I32 = struct.Struct("<i")
U32X2 = struct.Struct("<II")
U32X3 = struct.Struct("<III")
