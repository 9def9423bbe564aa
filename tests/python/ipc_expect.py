"""The expected-values JSON shared by the pyarrow interop scripts and the Rust tests.

One JSON document describes one Arrow IPC stream or file:

    {
      "format": "stream" | "file",
      "check_dictionaries": true,          # compare dictionary values per batch too
      "schema": {
        "metadata": {"key": "value", ...},  # schema-level custom metadata
        "fields": [{"name": ..., "type": str(pyarrow type), "nullable": bool,
                    "metadata": {...}}, ...]
      },
      "batches": [
        {"num_rows": n,
         "columns": [{"values": [...], "dictionary": [...]  # dictionary columns only
                     }, ...]}
      ],
      "footer_metadata": {...}              # files from pyarrow_write.py only
    }

Values, one per row, null as JSON null:
  bool                          true / false
  int8..int32, uint8..uint32    JSON number
  int64, uint64                 decimal string (JSON numbers lose 64-bit precision)
  float, double                 string: Python repr / Rust {:?} ("NaN", "inf", "-inf",
                                "-0.0"); strings so that no JSON float parser can round
  string, large_string          the string
  dictionary<..., string>       the resolved string (the dictionary itself is in
                                "dictionary")
  date32, time32                JSON number (days / time unit)
  date64, time64, timestamp,    decimal string of the stored integer
  duration
  decimal32/64/128(p, s)        decimal string of the unscaled integer
  null                          null

This module is not a general Arrow-to-JSON converter: it covers exactly the types
Lightstream supports and fails loudly on anything else.
"""

import json
import math
import struct

import pyarrow as pa
import pyarrow.types as pt


def float_str(x):
    """Canonical text of a float: repr, with NaN/inf spelled as Rust prints them."""
    x = float(x)
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


def _is_big_int(t):
    return pt.is_int64(t) or pt.is_uint64(t)


def _is_decimal(t):
    return pt.is_decimal(t)


def _temporal_storage(t):
    """The integer type a temporal type is stored as, or None."""
    if pt.is_date32(t) or pt.is_time32(t):
        return pa.int32()
    if pt.is_date64(t) or pt.is_time64(t) or pt.is_timestamp(t) or pt.is_duration(t):
        return pa.int64()
    return None


def _decimal_values(arr):
    width = arr.type.bit_width // 8
    data = arr.buffers()[1]
    raw = data.to_pybytes() if data is not None else b""
    out = []
    for i in range(len(arr)):
        if not arr[i].is_valid:
            out.append(None)
            continue
        start = (arr.offset + i) * width
        out.append(str(int.from_bytes(raw[start : start + width], "little", signed=True)))
    return out


def column_values(arr):
    """Canonical JSON values of one pyarrow Array (not chunked)."""
    t = arr.type
    if pt.is_null(t):
        return [None] * len(arr)
    if pt.is_boolean(t):
        return arr.to_pylist()
    if pt.is_integer(t):
        vals = arr.to_pylist()
        if _is_big_int(t):
            return [None if v is None else str(v) for v in vals]
        return vals
    if pt.is_float32(t) or pt.is_float64(t):
        return [None if v is None else float_str(v) for v in arr.to_pylist()]
    if pt.is_string(t) or pt.is_large_string(t):
        return arr.to_pylist()
    if pt.is_dictionary(t):
        if not (pt.is_string(t.value_type) or pt.is_large_string(t.value_type)):
            raise TypeError(f"unsupported dictionary value type {t}")
        return arr.to_pylist()
    storage = _temporal_storage(t)
    if storage is not None:
        vals = arr.view(storage).to_pylist()
        if storage == pa.int64():
            return [None if v is None else str(v) for v in vals]
        return vals
    if _is_decimal(t):
        if t.bit_width not in (32, 64, 128):
            raise TypeError(f"unsupported decimal type {t}")
        return _decimal_values(arr)
    raise TypeError(f"ipc_expect does not cover type {t}")


def _metadata(md):
    if not md:
        return {}
    return {k.decode("utf-8"): v.decode("utf-8") for k, v in md.items()}


def schema_json(schema):
    return {
        "metadata": _metadata(schema.metadata),
        "fields": [
            {
                "name": f.name,
                "type": str(f.type),
                "nullable": f.nullable,
                "metadata": _metadata(f.metadata),
            }
            for f in schema
        ],
    }


def batch_json(batch):
    cols = []
    for col in batch.columns:
        entry = {"values": column_values(col)}
        if pt.is_dictionary(col.type):
            entry["dictionary"] = col.dictionary.to_pylist()
        cols.append(entry)
    return {"num_rows": batch.num_rows, "columns": cols}


def expect_json(fmt, schema, batches, check_dictionaries=True):
    return {
        "format": fmt,
        "check_dictionaries": check_dictionaries,
        "schema": schema_json(schema),
        "batches": [batch_json(b) for b in batches],
    }


def write_json(path, doc):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1, allow_nan=False)


# ---------------------------------------------------------------- comparison


def _norm(type_name, v):
    """Comparable form of one canonical value of a column of type `type_name`."""
    if v is None:
        return None
    if type_name in ("float", "double"):
        f = float(v)
        if math.isnan(f):
            return ("nan",)
        return ("f", struct.pack("<d", f))
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, str) and (
        type_name in ("int64", "uint64", "date64[ms]")
        or type_name.startswith(("time64", "timestamp", "duration", "decimal"))
    ):
        return int(v)
    return v


def diff_docs(expected, actual, label, check_dictionaries=None):
    """Every difference between two expectation documents, as readable lines."""
    out = []
    if check_dictionaries is None:
        check_dictionaries = expected.get("check_dictionaries", True)
    es, as_ = expected["schema"], actual["schema"]
    if es["metadata"] != as_["metadata"]:
        out.append(f"{label}: schema metadata: expected {es['metadata']!r}, got {as_['metadata']!r}")
    if len(es["fields"]) != len(as_["fields"]):
        out.append(
            f"{label}: {len(es['fields'])} fields expected, got {len(as_['fields'])}: "
            f"{[f['name'] for f in as_['fields']]}"
        )
        return out
    for i, (ef, af) in enumerate(zip(es["fields"], as_["fields"])):
        for key in ("name", "type", "nullable", "metadata"):
            if ef[key] != af[key]:
                out.append(f"{label}: field {i} ({ef['name']}) {key}: expected {ef[key]!r}, got {af[key]!r}")
    if len(expected["batches"]) != len(actual["batches"]):
        out.append(f"{label}: expected {len(expected['batches'])} batches, got {len(actual['batches'])}")
        return out
    names = [f["name"] for f in es["fields"]]
    types = [f["type"] for f in es["fields"]]
    for b, (eb, ab) in enumerate(zip(expected["batches"], actual["batches"])):
        if eb["num_rows"] != ab["num_rows"]:
            out.append(f"{label}: batch {b}: expected {eb['num_rows']} rows, got {ab['num_rows']}")
            continue
        for c, (ec, ac) in enumerate(zip(eb["columns"], ab["columns"])):
            ev, av = ec["values"], ac["values"]
            if len(ev) != len(av):
                out.append(f"{label}: batch {b} column {names[c]}: expected {len(ev)} values, got {len(av)}")
                continue
            bad = [r for r in range(len(ev)) if _norm(types[c], ev[r]) != _norm(types[c], av[r])]
            for r in bad[:5]:
                out.append(
                    f"{label}: batch {b} column {names[c]} ({types[c]}) row {r}: "
                    f"expected {ev[r]!r}, got {av[r]!r}"
                )
            if len(bad) > 5:
                out.append(f"{label}: batch {b} column {names[c]}: {len(bad) - 5} more rows differ")
            if check_dictionaries and "dictionary" in ec and ec.get("dictionary") != ac.get("dictionary"):
                out.append(
                    f"{label}: batch {b} column {names[c]} dictionary: expected "
                    f"{ec['dictionary']!r}, got {ac.get('dictionary')!r}"
                )
    return out
