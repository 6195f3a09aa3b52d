#!/usr/bin/env bash
# Writes linker/hot-text.ld: the functions a plain HTTP/1.1 run executes,
# which build.rs has the linker place together ahead of the rest of the code.
#
#   benches/hot-text.sh        (as root: it sets uprobes through tracefs)
#
# Why: the kernel maps a program's code 64 KiB at a time around each page
# that runs (fault-around), so 780 KiB of functions scattered through 4 MiB
# of code kept 2.1 MiB resident; placed together they keep about 0.9 MiB.
#
# How: a release build with symbols gets a uprobe on every function, the
# built-in server (a copy of the file, so its own code is not counted)
# answers the workloads below, and every function entered at least once is
# listed with all the names at its address (merged functions share one).
# Names become patterns without what changes between toolchains (legacy
# hashes, v0 crate disambiguators and back-references), so the next rustc
# still matches them. A function missing from the list still runs; its
# 64 KiB are mapped as before. Run this again when the hot paths change:
# the test `hot_text_is_linked_first` fails once the list matches little.
set -euo pipefail
cd "$(dirname "$0")/.."
tracefs=/sys/kernel/tracing
[ -w "$tracefs/uprobe_events" ] || { echo "hot-text.sh: needs root and a writable $tracefs" >&2; exit 1; }
work=$(mktemp -d)
# Its own target directory: target/release keeps the user's stripped build.
CARGO_PROFILE_RELEASE_STRIP=false cargo build --release --locked --bin vastar --target-dir "$work/target"
cp "$work/target/release/vastar" "$work/vastar"
cp "$work/target/release/vastar" "$work/server"
group=vastar_hot_$$
server=
cleanup() {
    set +e # take down all that can be, whatever fails
    [ -n "$server" ] && kill "$server" 2>/dev/null
    { echo 0 >"$tracefs/events/$group/enable"; } 2>/dev/null
    # Removing 3,900 probes takes a minute or two; one now and then fails
    # (EBUSY): go over what is left again.
    for _ in 1 2 3; do
        grep -o "^p:$group/[^ ]*" "$tracefs/uprobe_events" | sed 's/^p:/-:/' |
            while read -r line; do echo "$line" >>"$tracefs/uprobe_events" 2>/dev/null; done
    done
    if grep -q "^p:$group/" "$tracefs/uprobe_events"; then
        echo "hot-text.sh: some uprobes of $group are left in $tracefs/uprobe_events" >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# One probe per function start; probe fN is line N of functions.txt.
python3 - "$work/vastar" "$group" "$work/functions.txt" <<'PY' >"$work/probes.txt"
import subprocess, sys
binary, group, listing = sys.argv[1:]
def run(*command):
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()
# File offset of code = its address minus the executable segment's shift.
shift = next(int(f[2], 16) - int(f[1], 16) for f in map(str.split, run("readelf", "-lW", binary))
             if f[:1] == ["LOAD"] and "E" in f[6:-1])
names = {}
for f in map(str.split, run("nm", "-S", "--defined-only", binary)):
    if len(f) == 4 and f[2] in "tTwW" and int(f[1], 16) > 0:
        names.setdefault(int(f[0], 16), []).append(f[3])
with open(listing, "w") as out:
    for index, (address, aliases) in enumerate(sorted(names.items())):
        out.write(" ".join(aliases) + "\n")
        print(f"p:{group}/f{index} {binary}:0x{address - shift:x}")
PY
while read -r probe; do echo "$probe" >>"$tracefs/uprobe_events"; done <"$work/probes.txt"
echo 1 >"$tracefs/events/$group/enable"

# The workloads: what the benchmarks and most runs do (HTTP/1.1 over plain
# TCP, io_uring with every feature and with older kernels' features, the
# terminal report and JSON), across body sizes that take one receive or many.
serve() {
    if [ -n "$server" ]; then kill "$server" && wait "$server" 2>/dev/null || true; fi
    port=$((20000 + RANDOM % 10000))
    "$work/server" serve --listen "127.0.0.1:$port" --body-bytes "$1" >/dev/null 2>&1 &
    server=$!
    # Answering, asked by the copy without probes.
    for _ in $(seq 50); do
        "$work/server" -n 1 -c 1 --quiet --assert 'errors<1%' "http://127.0.0.1:$port/" >/dev/null 2>&1 && return
        kill -0 "$server" 2>/dev/null || break
        sleep 0.1
    done
    echo "hot-text.sh: the built-in server did not answer on port $port" >&2
    exit 1
}
load() {
    "$work/vastar" "$@" "http://127.0.0.1:$port/" >/dev/null 2>&1 && kill -0 "$server" ||
        { echo "hot-text.sh: vastar $* failed, or the server died under it" >&2; exit 1; }
}
old=(--io-uring-without min-wait,incremental)
serve 5
load -c 1 -n 200 --no-color
load -c 50 -z 2s --no-color
load -c 1000 -z 2s --no-color
load -c 1000 -z 2s -o json --quiet
load -c 1000 -z 2s --no-color "${old[@]}"
load -c 500 -z 2s --no-color --io-uring-without min-wait
for bytes in 1024 59392 1048576; do
    serve "$bytes"
    load -c 50 -z 2s --no-color
    load -c 500 -z 2s --no-color "${old[@]}"
    load -c 100 -z 2s --no-color --disable-keepalive
done

# Every function entered, as patterns in address order.
python3 - "$tracefs/uprobe_profile" "$work/vastar" "$work/functions.txt" <<'PY' >"$work/hot-text.ld"
import re, sys
profile, binary, listing = sys.argv[1:]
functions = open(listing).read().splitlines()
entered = set()
for f in map(str.split, open(profile)):
    if len(f) == 3 and f[1].startswith("f") and int(f[2]) > 0 and f[0] == binary:
        entered.add(int(f[1][1:]))
def v0_pattern(name):
    # Copies identifiers (<length>[_]<text>) whole; only crate
    # disambiguators (C s<base62>_) and back-references (B<base62>_) in tag
    # position become wildcards.
    out, i = [], 0
    while i < len(name):
        if name[i].isdigit():
            j = i
            while j < len(name) and name[j].isdigit():
                j += 1
            end = j + int(name[i:j]) + name.startswith("_", j)
            out.append(name[i:end])
            i = end
        elif name.startswith("Cs", i) or name[i] == "B":
            start = i + 1 if name[i] == "C" else i
            out.append("C*" if name[i] == "C" else "*")
            i = name.index("_", start) + 1
        else:
            out.append(name[i])
            i += 1
    return "".join(out) + "*"
def pattern(name):
    # LLVM numbers the local copies of a name (.llvm.N, .N) in build order.
    name = re.sub(r"(\.llvm)?\.\d+$", "", name)
    if name.startswith("_ZN"):  # legacy: the hash ends the name
        return re.sub(r"17h[0-9a-f]{16}E$", "17h*", name)
    if name.startswith("_R"):
        return re.sub(r"\*+", "*", v0_pattern(name))
    return name  # C: as it is
patterns = []
for index in sorted(entered):
    for name in functions[index].split():
        if name not in ("_start", "main") and pattern(name) not in patterns:
            patterns.append(pattern(name))
broad = [p for p in patterns if "*" in p and len(p.replace("*", "")) < 8]
if broad:
    sys.exit(f"hot-text.sh: patterns this short would take far more than they name: {broad}")
print("/* Generated by benches/hot-text.sh: the functions a plain HTTP/1.1 run")
print("   enters, placed together ahead of the rest of the code (see build.rs). */")
print("SECTIONS\n{\n  .text.hot : {")
for p in patterns:
    # Cold functions (#[cold], and LLVM's own) sit in .text.unlikely.*.
    print(f"    *(.text.{p} .text.unlikely.{p})")
print("  }\n}\nINSERT BEFORE .text;")
PY
cat "$work/hot-text.ld" >linker/hot-text.ld
echo "linker/hot-text.ld: $(grep -c '^    \*(' linker/hot-text.ld) patterns for the functions entered, of $(wc -l <"$work/functions.txt")"
