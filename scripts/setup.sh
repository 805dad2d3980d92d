#!/usr/bin/env bash
# Installs every build/test dependency of latentedit from Debian's packages.
# Non-interactive and idempotent: packages already present are skipped by apt.
# Usage: scripts/setup.sh [--with-python] [--with-browser] [--with-slurm]
#   --with-python   adds the Python module's build and test dependencies (pybind11-dev, python3-dev,
#                   python3-numpy, python3-pytest, jupyter-nbconvert + python3-ipykernel for the example
#                   notebook) and python3-torch (torch interop test, test fixtures,
#                   the Python reference benchmark); scripts/test.sh passes it
#   --with-browser  adds chromium and python3 (the web page's browser test; scripts/test.sh passes it)
#   --with-slurm    adds slurm-wlm, munge and python3-yaml (the cluster tests: a real one-node Slurm the
#                   test starts in a temp dir, and the Kubernetes manifests; scripts/test.sh passes it).
#                   Installing starts no daemon the tests use; they never read /etc/slurm or /etc/munge
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config
      libtorch-dev libopencv-dev nlohmann-json3-dev libcli11-dev libcpp-httplib-dev
      libopenblas0-pthread libgtest-dev googletest)
for a in "$@"; do
  case "$a" in
    --with-python) pkgs+=(pybind11-dev python3-pybind11 python3-dev python3-numpy python3-pytest python3-torch python3-opencv
                          jupyter-nbconvert python3-ipykernel) ;;
    --with-browser) pkgs+=(chromium python3) ;;  # python3: the DevTools-protocol driver of tests/browser
    --with-slurm) pkgs+=(slurm-wlm munge python3-yaml) ;;
    *) echo "setup: unknown option $a (use --with-python, --with-browser, --with-slurm)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "setup: all dependencies present" >&2
fi
