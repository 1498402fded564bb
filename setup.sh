#!/usr/bin/env bash
# Set up .venv with impasto and its test tools. Safe to run again: it only adds what is missing.
# torch: an existing torch in .venv (e.g. your CUDA build) is kept; machines with an NVIDIA GPU get
# PyPI's CUDA build; others get torch 2.13.0 (a CPU build where a local wheel or
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu provides one).
set -euo pipefail
cd "$(dirname "$0")"
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "setup: impasto needs Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check --progress-bar off)
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    "${pip[@]}" "torch>=2.2"
  else
    "${pip[@]}" "torch==2.13.0" ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  fi
fi
"${pip[@]}" -e ".[test,serve,docs,cluster]"
# An editable install leaves impasto's modules uncompiled; where PYTHONDONTWRITEBYTECODE is set, every
# command would compile them again (tens of ms of each one-photo command). Python recompiles a stale one.
.venv/bin/python -m compileall -q src
# The web app's browser test drives Debian's chromium (Playwright's own browser download cannot
# work offline); install it where we may, else that one test is skipped with the reason.
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1; } \
      || echo "setup: could not install chromium; the browser test will be skipped" >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo apt-get install -y -q chromium >/dev/null 2>&1 || echo "setup: could not install chromium; the browser test will be skipped" >&2
  else
    echo "setup: no chromium and no root to install it; the browser test will be skipped" >&2
  fi
fi
echo "setup: ready (.venv/bin/impasto)" >&2
