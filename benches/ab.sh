#!/usr/bin/env bash
# Two builds of vastar side by side against the built-in server: each round
# runs every variant once, alternating, and the medians are printed.
#
#   benches/ab.sh ROUNDS SECONDS "ARGS" NAME=BINARY [NAME=BINARY ...]
#   benches/ab.sh 5 2 "-c 50 --backend io-uring" before=/tmp/before/vastar after=target/release/vastar
#
# The server (the last binary's `vastar serve`, 5 B bodies) is pinned to
# CPU 0 and the generator to CPU 1, so the generator's own cost decides the
# rate. CPU is the generator's user + system time per response, RSS its
# peak resident memory, both from /usr/bin/time.
set -euo pipefail
rounds=$1 seconds=$2 args=$3
shift 3
variants=("$@")
server_bin=${variants[-1]#*=}
port=$((20000 + RANDOM % 10000))
taskset -c 0 "$server_bin" serve --listen "127.0.0.1:$port" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
sleep 0.5
out=$(mktemp -d)
for round in $(seq "$rounds"); do
    for variant in "${variants[@]}"; do
        name=${variant%%=*} bin=${variant#*=}
        # shellcheck disable=SC2086
        /usr/bin/time -f '%U %S %M' -o "$out/time" taskset -c 1 "$bin" -z "${seconds}s" $args -o json \
            "http://127.0.0.1:$port/" >"$out/json" 2>/dev/null
        read -r user sys rss_kb <"$out/time"
        python3 - "$out/json" "$user" "$sys" "$rss_kb" >>"$out/$name" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
responses = doc["counts"]["responses"]
cpu_us = (float(sys.argv[2]) + float(sys.argv[3])) * 1e6 / max(responses, 1)
print(doc["summary"]["requests_per_sec"], cpu_us, int(sys.argv[4]) / 1000)
PY
    done
done
printf '%-10s %14s %14s %10s   (%s rounds of %s s: %s)\n' variant 'req/s' 'CPU us/req' 'RSS MB' "$rounds" "$seconds" "$args"
for variant in "${variants[@]}"; do
    name=${variant%%=*}
    python3 - "$out/$name" "$name" <<'PY'
import statistics, sys
rows = [list(map(float, line.split())) for line in open(sys.argv[1])]
med = [statistics.median(col) for col in zip(*rows)]
spread = f"{min(r[0] for r in rows):,.0f}..{max(r[0] for r in rows):,.0f}"
print(f"{sys.argv[2]:<10} {med[0]:>14,.0f} {med[1]:>14.2f} {med[2]:>10.1f}   req/s {spread}")
PY
done
rm -rf "$out"
