"""BBA (buffer-based: reservoir 5 s, cushion 10 s, linear in the quality index) as a dashcdn ABR
plug-in; it makes the built-in `bba`'s decisions, decision for decision:

    dashcdn player study --model pensieve --movie ../shared/abr-traces/pensieve/envivio \
        --traces ../shared/abr-traces/pensieve/hsdpa_test --abr 'bba,plugin:python3 examples/abr/bba.py'

Under the Pensieve model the reference (`bb.py`) computes in seconds, elsewhere in ms; the same
doubles in the same order give the same qualities.
"""

from dashcdn_abr import run

RESERVOIR_MS = 5000.0
CUSHION_MS = 10000.0


def first_quality(s, m):
    return min(1, s.levels - 1)


def decide(s, m):
    top = s.levels - 1
    if s.model == "pensieve":
        b, r, c = m["buffer_ms"] / 1000.0, RESERVOIR_MS / 1000.0, CUSHION_MS / 1000.0
    else:
        b, r, c = m["buffer_ms"], RESERVOIR_MS, CUSHION_MS
    if b < r:
        return 0
    if b >= r + c:
        return top
    return min(int((top * (b - r)) / c), top)


if __name__ == "__main__":
    run(decide, first_quality=first_quality)
