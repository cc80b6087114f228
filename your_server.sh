#!/bin/sh
# Builds the release binary (quietly, with the committed Cargo.lock) and runs it with all
# arguments. Works from any directory; a relative --directory stays relative to the caller's.
set -e
here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
cargo build --quiet --release --locked --manifest-path "$here/Cargo.toml"
# --no-date: the exercise's runner fails on any Date field, which RFC 9110 §6.6.1 otherwise asks for
exec "$here/target/release/http-server" --no-date "$@"
