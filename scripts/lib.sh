# Shared helpers for scripts/serve-demo and scripts/test. Every step is
# idempotent: it checks for what it needs and installs only what is missing.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_PORT=${OPSHUB_PG_PORT:-54329}
PG_DIR="$ROOT/.data/pg"
CARGO_LEPTOS_VERSION=0.3.10

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

ensure_rust_tools() {
    if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
        log "adding the wasm32-unknown-unknown target"
        rustup target add wasm32-unknown-unknown
    fi
    if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
        log "installing cargo-leptos $CARGO_LEPTOS_VERSION (takes a while, once)"
        cargo install cargo-leptos --version "$CARGO_LEPTOS_VERSION" --locked --features no_downloads
    fi
    # wasm-bindgen-cli must match the wasm-bindgen crate in Cargo.lock exactly.
    local wb
    wb=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.lock")
    if ! wasm-bindgen --version 2>/dev/null | grep -q " $wb\$"; then
        log "installing wasm-bindgen-cli $wb"
        cargo install wasm-bindgen-cli --version "$wb"
    fi
}

ensure_node_packages() {
    # Playwright and binaryen (a wasm-opt that keeps hydration intact) come from npm.
    if [ ! -x "$ROOT/end2end/node_modules/.bin/playwright" ] \
        || [ "$ROOT/end2end/package-lock.json" -nt "$ROOT/end2end/node_modules/.package-lock.json" ]; then
        log "installing npm packages for end2end/"
        (cd "$ROOT/end2end" && npm ci --no-audit --no-fund)
    fi
    export PATH="$ROOT/end2end/node_modules/.bin:$PATH"
}

ensure_chromium() {
    if [ -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then return; fi
    log "installing Chromium from Debian's packages"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

pg_bin() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

# Points DATABASE_URL at a project-local Postgres under .data/pg (started if
# needed), unless DATABASE_URL is already set.
ensure_postgres() {
    if [ -n "${DATABASE_URL:-}" ]; then
        log "using DATABASE_URL from the environment"
        return
    fi
    local bin
    bin=$(pg_bin)
    [ -n "$bin" ] || { echo "Postgres server binaries not found under /usr/lib/postgresql" >&2; exit 1; }
    local run=()
    if [ "$(id -u)" -eq 0 ]; then run=(runuser -u postgres --); fi
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" -eq 0 ]; then
        chown -R postgres:postgres "$PG_DIR"
        # The cluster runs as the postgres user, who must reach the folder.
        if ! runuser -u postgres -- test -w "$PG_DIR"; then
            PG_DIR="/tmp/opshub-pg-$(printf '%s' "$ROOT" | md5sum | cut -c1-10)"
            log "the postgres user cannot reach .data/pg; using $PG_DIR"
            mkdir -p "$PG_DIR" && chown -R postgres:postgres "$PG_DIR"
        fi
    fi
    if [ ! -f "$PG_DIR/data/PG_VERSION" ]; then
        log "creating a Postgres cluster in .data/pg"
        "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 >/dev/null
    fi
    if ! "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" status >/dev/null 2>&1; then
        log "starting Postgres on 127.0.0.1:$PG_PORT"
        if ! "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
            -o "$(pg_server_options)" start >/dev/null; then
            tail -n 5 "$PG_DIR/log" >&2
            echo "Postgres did not start (is port $PG_PORT taken? set OPSHUB_PG_PORT or DATABASE_URL)" >&2
            exit 1
        fi
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/opshub"
}

# Creates the database named in $1 (a URL) if it does not exist.
ensure_database() {
    local url=$1 base name
    base=${url%/*}
    name=${url##*/}
    name=${name%%\?*}
    if ! psql "$base/postgres" -Atqc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1; then
        log "creating database $name"
        psql "$base/postgres" -qc "CREATE DATABASE \"$name\""
    fi
}

# Build output lives in target/ unless CARGO_TARGET_DIR says otherwise; the
# hub serves its WASM and CSS from the site folder cargo-leptos writes there.
use_shared_target_dir() {
    local target=${CARGO_TARGET_DIR:-$ROOT/target}
    export CARGO_TARGET_DIR=$target
    export LEPTOS_SITE_ROOT=${LEPTOS_SITE_ROOT:-$target/site}
    export OPSHUB_BIN=$target/release/opshub
}

# The settings the project-local Postgres runs with (its port among them).
pg_server_options() {
    printf '%s' "-p $PG_PORT -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off"
}

# The command that restarts the project-local Postgres (empty when the
# database is not the project's own cluster): for the restart suite. The
# server stays down for two seconds, longer than readiness waits for the
# database, so the outage is one a probe must see.
pg_restart_command() {
    if [ -n "${OPSHUB_PG_RESTART:-}" ]; then
        printf '%s' "$OPSHUB_PG_RESTART"
        return
    fi
    local bin run=""
    bin=$(pg_bin)
    [ -f "$PG_DIR/data/PG_VERSION" ] || return 0
    case "${DATABASE_URL:-}" in
        *"127.0.0.1:$PG_PORT/"*) ;;
        *) return 0 ;;
    esac
    if [ "$(id -u)" -eq 0 ]; then run="runuser -u postgres --"; fi
    printf '%s' "$run $bin/pg_ctl -D $PG_DIR/data -m fast -w stop && sleep 2 && $run $bin/pg_ctl -D $PG_DIR/data -l $PG_DIR/log -w -o '$(pg_server_options)' start"
}
