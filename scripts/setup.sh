#!/usr/bin/env bash
# Installs what building and testing need, or says exactly what is missing:
#   - the wasm32-wasip2 Rust target (the plugins), rustfmt and clippy (CI);
#   - libclang and clang's builtin headers (pg_query's build runs bindgen);
#   - PostgreSQL server and client binaries (scratch clusters);
#   - openssl (the TLS tests make their CA and certificates with it).
#
# The libclang check asks for exactly what bindgen loads: a libclang shared
# library (not libclang-cpp, which other llvm packages ship and which bindgen
# cannot use) with clang's builtin headers (stdbool.h) beside it. Debian ships
# these in libclang1-N and libclang-common-N-dev; `libclang-dev` pulls both.
set -euo pipefail

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "setup: adding the Rust target wasm32-wasip2"
  rustup target add wasm32-wasip2
fi
for c in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    echo "setup: adding the Rust component $c"
    rustup component add "$c"
  fi
done

# A directory holding a usable libclang: the library itself and, in
# clang/<version>/include, the builtin headers bindgen's parse needs.
libclang_ok() {
  local dir=$1 lib
  for lib in "$dir"/libclang.so "$dir"/libclang.so.* "$dir"/libclang-[0-9]*.so*; do
    [ -e "$lib" ] || continue
    compgen -G "$dir/clang/*/include/stdbool.h" >/dev/null && return 0
  done
  return 1
}

have_libclang() {
  if [ -n "${LIBCLANG_PATH:-}" ]; then
    libclang_ok "$LIBCLANG_PATH" && return 0
    echo "setup: LIBCLANG_PATH=$LIBCLANG_PATH holds no libclang with clang's builtin headers" >&2
    return 1
  fi
  local dir
  for dir in /usr/lib/llvm-*/lib; do
    libclang_ok "$dir" && return 0
  done
  return 1
}

missing=()
have_libclang || missing+=(libclang-dev)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v psql >/dev/null 2>&1 || missing+=(postgresql-client)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing ${missing[*]}; install them (Debian: sudo apt-get install -y ${missing[*]})" >&2
    exit 1
  fi
  if [[ " ${missing[*]} " == *" libclang-dev "* ]] && ! have_libclang; then
    echo "setup: libclang-dev is installed but no libclang with clang's builtin headers was found under /usr/lib/llvm-*/lib; set LIBCLANG_PATH to the directory holding libclang.so" >&2
    exit 1
  fi
fi
