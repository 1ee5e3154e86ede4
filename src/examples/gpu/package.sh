#!/bin/bash
# Collects what the GPU example needs on a machine with GPUs but no Debian
# packages: mxd and the three GPU programs (stripped), the shared libraries
# ldd lists for them except glibc's own, and run.sh.
#   [MXD=path] src/examples/gpu/package.sh BUILD_DIR DEST_DIR
set -euo pipefail
build=$1
dest=$2
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dest/lib"
# MXD=path overrides the build's mxd (any mxd of the same wire contract will do).
bins=("${MXD:-$build/bin/mxd}" "$build/bin/mx_gpu_seed" "$build/bin/mx_gpu_target" "$build/bin/mx_gpu_floor")
for bin in "${bins[@]}"; do
  strip -o "$dest/$(basename "$bin")" "$bin"
  ldd "$bin" | awk '/=> \// {print $3}' | while read -r lib; do
    case "$(basename "$lib")" in
      libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libresolv.so*) continue ;;
    esac
    [ -e "$dest/lib/$(basename "$lib")" ] || strip --strip-unneeded -o "$dest/lib/$(basename "$lib")" "$lib"
  done
done
cp "$here/run.sh" "$dest/run.sh"
chmod +x "$dest/run.sh"
du -sh "$dest"
