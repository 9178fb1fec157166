"""A learned policy (a file written by `dashcdn player train`) run in Python with numpy, as a
dashcdn ABR plug-in. It makes the decisions of the built-in `learned:FILE`:

    dashcdn player study --model pensieve --movie ../shared/abr-traces/pensieve/envivio \
        --traces ../shared/abr-traces/pensieve/hsdpa_test \
        --abr 'learned:examples/abr/learned-envivio.json,plugin:python3 examples/abr/mlp_policy.py examples/abr/learned-envivio.json'

It is also the starting point for a researcher's own network: the features below are the
policy's input (player-sim/src/abr/learned/features.rs, feature set "v1"), the file holds the
normalisation and the layers (player-sim/src/abr/learned/policy.rs documents the format).
"""

import json
import sys

import numpy as np

from dashcdn_abr import run

HISTORY = 8
HARMONIC = 5


def load(path):
    with open(path) as f:
        p = json.load(f)
    if p.get("format") != "dashcdn-learned-abr" or p.get("version") != 1:
        raise SystemExit("%s: not a dashcdn learned policy (format/version)" % path)
    if p.get("feature_set") != "v1":
        raise SystemExit("%s: feature set %r, this script computes v1" % (path, p.get("feature_set")))
    layers = [(np.array(l["w"], dtype=np.float32).reshape(l["outputs"], l["inputs"]),
               np.array(l["b"], dtype=np.float32)) for l in p["network"]["layers"]]
    return (p["levels"], np.array(p["input_mean"], dtype=np.float32),
            np.array(p["input_scale"], dtype=np.float32), layers)


LEVELS, MEAN, SCALE, LAYERS = load(sys.argv[1])


def on_start(s):
    if s.levels != LEVELS:
        raise ValueError("policy chooses among %d qualities, the ladder has %d" % (LEVELS, s.levels))
    s.state["thr"] = []  # kbps, most recent first
    s.state["time"] = []  # ms


def on_download(s, r):
    if r["time_ms"] > 0 and r["downloaded_bits"] > 0:
        s.state["thr"].insert(0, r["downloaded_bits"] / r["time_ms"])
        s.state["time"].insert(0, r["time_ms"])
        del s.state["thr"][HISTORY:], s.state["time"][HISTORY:]


def features(s, m):
    b = s.bitrates_kbps
    top = b[-1]
    seg = s.segment_ms
    thr, times = s.state["thr"], s.state["time"]
    x = [b[min(m["last_quality"], len(b) - 1)] / top, m["buffer_ms"] / 10000.0]
    x += [thr[i] / top if i < len(thr) else 0.0 for i in range(HISTORY)]
    x += [times[i] / 10000.0 if i < len(times) else 0.0 for i in range(HISTORY)]
    sizes = m.get("next_sizes_bits") or s.sizes_bits[-1]
    x += [z / (seg * top) for z in sizes]
    recent = thr[:HARMONIC]
    hm = len(recent) / sum(1.0 / v for v in recent) if recent else None
    x += [min(z / hm / seg, 5.0) if hm else 5.0 for z in sizes]
    x.append(hm / top if hm else 0.0)
    x.append(max(s.segments - m["index"], 0) / max(s.segments, 1))
    return np.array(x, dtype=np.float32)


def decide(s, m):
    a = (features(s, m) - MEAN) / SCALE
    for i, (w, bias) in enumerate(LAYERS):
        a = w @ a + bias
        if i + 1 < len(LAYERS):
            a = np.maximum(a, 0.0)
    return min(int(np.argmax(a)), s.levels - 1)


if __name__ == "__main__":
    run(decide, first_quality=decide, on_download=on_download, on_start=on_start)
