#!/usr/bin/env bash
# Installs latentedit from BUILD_DIR into a temporary prefix, checks that only public headers
# were installed, builds tests/install against it with find_package(latentedit) and runs it.
set -euo pipefail
build=$1 src=$2 bundle=$3
tmp=$(mktemp -d /tmp/latentedit-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
for h in fsutil.h pth.h fused.h faces.h runtime.h networks.h request.h fields.h messages.h; do
  if [[ -e "$tmp/prefix/include/latentedit/$h" ]]; then echo "internal header $h was installed" >&2; exit 1; fi
done
for d in faces64/eval faces64/previous training; do
  if [[ -e "$tmp/prefix/share/latentedit/pretrained/$d" ]]; then echo "pretrained/$d (measurements, not the model) was installed" >&2; exit 1; fi
done
if [[ ! -e "$tmp/prefix/share/latentedit/pretrained/faces64/model.json" ]]; then echo "the bundled model was not installed" >&2; exit 1; fi
if grep -rqs -- "$src" "$tmp/prefix/lib"/*.a; then echo "the source path is compiled into the installed library" >&2; exit 1; fi
cmake -S "$src/tests/install" -B "$tmp/b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/b" >/dev/null
"$tmp/b/consumer" "$bundle"
