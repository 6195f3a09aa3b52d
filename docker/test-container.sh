#!/usr/bin/env bash
# Container test, for real: build the static binary, build an image whose
# runtime stage is docker/Dockerfile's (FROM scratch + the binary), and run
# it with podman against a server on the host's loopback:
#   1. default seccomp        -> portable backend, one-line notice on stderr
#   2. io_uring-allowing profile (derived from podman's default with jq)
#                             -> io_uring backend
#   3. --backend io-uring under the default profile -> exit 2 with the reason
#   4. HTTPS: a server signed by a private CA is verified with --cacert, is
#      refused without it (the image's own bundle is loaded and does not know
#      that CA: exit 1, not "no roots"), and -k skips verification
# Fails loudly when podman cannot run here; it never passes silently.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "container test: FAILED: $*" >&2; exit 1; }
pass() { echo "container test: ok: $*"; }

command -v podman >/dev/null || fail "podman is not installed (apt-get install podman runc)"
command -v jq >/dev/null || fail "jq is not installed (apt-get install jq)"
profile_source=/usr/share/containers/seccomp.json
[ -f "$profile_source" ] || fail "podman's default seccomp profile $profile_source is missing"

target=x86_64-unknown-linux-musl
cargo build --release --locked --target "$target" --bin vastar
binary="target/$target/release/vastar"
file "$binary" 2>/dev/null | grep -q "static" || ldd "$binary" 2>&1 | grep -q "not a dynamic" \
    || fail "$binary is not statically linked"

work=$(mktemp -d)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    podman --runtime runc --cgroup-manager=cgroupfs rmi -f localhost/vastar-test >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

printf '[containers]\ndefault_ulimits = []\n' > "$work/containers.conf"
export CONTAINERS_CONF="$work/containers.conf"
pm() { podman --runtime runc --cgroup-manager=cgroupfs "$@"; }

# The runtime stage of docker/Dockerfile, copying the binary built above and
# this machine's Debian CA bundle instead of from the build stage (no
# registry to pull rust:1-bookworm from).
bundle=/etc/ssl/certs/ca-certificates.crt
[ -f "$bundle" ] || fail "$bundle is missing (apt-get install ca-certificates)"
cp "$binary" "$work/vastar"
cp "$bundle" "$work/ca-certificates.crt"
sed -n '/^FROM scratch/,$p' docker/Dockerfile \
    | sed -e 's#^COPY --from=build /vastar /vastar#COPY vastar /vastar#' \
          -e "s#^COPY --from=build $bundle #COPY ca-certificates.crt #" > "$work/Containerfile"
grep -q '^COPY vastar /vastar' "$work/Containerfile" && grep -q '^COPY ca-certificates.crt ' "$work/Containerfile" \
    || fail "could not derive the runtime stage from docker/Dockerfile"
pm build --quiet -t localhost/vastar-test -f "$work/Containerfile" "$work" >/dev/null \
    || fail "podman cannot build images here (no privileges?)"
size=$(pm image inspect --format '{{.Size}}' localhost/vastar-test)
[ "$size" -lt 5750000 ] || fail "image is $size bytes, over 5.75 MB"
pass "image built FROM scratch, $size bytes"

"$binary" serve --listen 127.0.0.1:0 > "$work/serve.log" &
server_pid=$!
for _ in $(seq 50); do grep -q listening "$work/serve.log" && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*/' "$work/serve.log") || fail "the host server did not start"

run() { # run NAME EXTRA_PODMAN_ARGS... -- VASTAR_ARGS...
    local name=$1; shift
    local podman_args=()
    while [ "$1" != "--" ]; do podman_args+=("$1"); shift; done
    shift
    set +e
    pm run --rm --network host "${podman_args[@]}" localhost/vastar-test "$@" \
        > "$work/$name.out" 2> "$work/$name.err"
    echo $? > "$work/$name.code"
    set -e
}

# 1. Default seccomp: io_uring_setup is blocked.
run default -- -n 500 -c 10 "$url"
[ "$(cat "$work/default.code")" = 0 ] || fail "default profile: exit $(cat "$work/default.code"): $(cat "$work/default.err")"
grep -q "Backend:      portable (tokio)" "$work/default.out" || fail "default profile: not on the portable backend"
grep -q "\[200\] 500 responses" "$work/default.out" || fail "default profile: wrong count"
[ "$(grep -c 'io_uring is not usable here' "$work/default.err")" = 1 ] || fail "default profile: no one-line notice"
pass "default seccomp -> portable backend with notice: $(head -c 160 "$work/default.err")"

# 2. The default profile with io_uring allowed (the command README gives).
jq '.syscalls |= map(.names -= ["io_uring_setup", "io_uring_enter", "io_uring_register"])
    | .syscalls += [{"names": ["io_uring_setup", "io_uring_enter", "io_uring_register"], "action": "SCMP_ACT_ALLOW"}]' \
    "$profile_source" > "$work/seccomp-io-uring.json"
run allowed --security-opt "seccomp=$work/seccomp-io-uring.json" -- -n 500 -c 10 "$url"
[ "$(cat "$work/allowed.code")" = 0 ] || fail "io_uring profile: exit $(cat "$work/allowed.code"): $(cat "$work/allowed.err")"
grep -q "Backend:      io_uring (" "$work/allowed.out" || fail "io_uring profile: not on io_uring: $(cat "$work/allowed.err")"
grep -q "\[200\] 500 responses" "$work/allowed.out" || fail "io_uring profile: wrong count"
pass "derived profile -> $(grep 'Backend:' "$work/allowed.out" | sed 's/^ *//')"

# 3. Insisting on io_uring under the default profile.
run refused -- --backend io-uring -n 10 -c 1 "$url"
[ "$(cat "$work/refused.code")" = 2 ] || fail "--backend io-uring: exit $(cat "$work/refused.code"), expected 2"
grep -q "io_uring is not usable here" "$work/refused.err" || fail "--backend io-uring: no reason given"
pass "--backend io-uring under the default profile -> exit 2"

# 4. HTTPS from the image: a host server whose certificate the test CA signed.
fixtures=tests/fixtures/tls
"$binary" serve --tls --cert "$fixtures/server.pem" --key "$fixtures/server.key" --listen 127.0.0.1:0 \
    > "$work/tls-serve.log" &
tls_pid=$!
for _ in $(seq 50); do grep -q listening "$work/tls-serve.log" && break; sleep 0.1; done
tls_url=$(grep -o 'https://[0-9.:]*/' "$work/tls-serve.log") || fail "the host TLS server did not start"
cp "$fixtures/ca.pem" "$work/ca.pem"
chmod 644 "$work/ca.pem"
run cacert -v "$work/ca.pem:/ca.pem:ro" -- -n 300 -c 10 --cacert /ca.pem "$tls_url"
[ "$(cat "$work/cacert.code")" = 0 ] || fail "--cacert: exit $(cat "$work/cacert.code"): $(cat "$work/cacert.err")"
grep -q "\[200\] 300 responses" "$work/cacert.out" || fail "--cacert: wrong count"
grep -q "TLS:          TLS 1.3" "$work/cacert.out" || fail "--cacert: no TLS line in the report"
run untrusted -- -n 300 -c 10 "$tls_url"
[ "$(cat "$work/untrusted.code")" = 1 ] || fail "without --cacert: exit $(cat "$work/untrusted.code"), expected 1: $(cat "$work/untrusted.err")"
grep -q "unknown authority" "$work/untrusted.err" || fail "without --cacert: $(cat "$work/untrusted.err")"
run insecure -- -n 300 -c 10 -k "$tls_url"
[ "$(cat "$work/insecure.code")" = 0 ] || fail "-k: exit $(cat "$work/insecure.code"): $(cat "$work/insecure.err")"
grep -q "\[200\] 300 responses" "$work/insecure.out" || fail "-k: wrong count"
kill "$tls_pid"
pass "HTTPS: --cacert verifies, the image's bundle refuses a private CA (exit 1), -k passes"

# 5. The man page and a completion script from the image, as README shows.
run man -- man
[ "$(cat "$work/man.code")" = 0 ] || fail "vastar man: exit $(cat "$work/man.code"): $(cat "$work/man.err")"
grep -q '^\.TH vastar 1' "$work/man.out" || fail "vastar man: no man page on stdout"
run completions -- completions bash
[ "$(cat "$work/completions.code")" = 0 ] || fail "completions: exit $(cat "$work/completions.code"): $(cat "$work/completions.err")"
grep -q '^_vastar()' "$work/completions.out" || fail "completions bash: no completion function on stdout"
pass "vastar man and vastar completions print from the image"
echo "5 passed, 0 failed"
