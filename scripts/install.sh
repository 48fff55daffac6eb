#!/usr/bin/env bash
# Install cellcall into ./.venv; with --test, also what the test suite needs (sipp, tmux).
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

debs=()
command -v python3 >/dev/null || debs+=(python3 python3-venv)
python3 -c 'import venv, ensurepip' 2>/dev/null || debs+=(python3-venv)
if (( want_test )); then
    command -v sipp >/dev/null || debs+=(sip-tester)
    command -v tmux >/dev/null || debs+=(tmux)
fi
if (( ${#debs[@]} )); then
    if [[ $(id -u) -eq 0 ]]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${debs[@]}" </dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" </dev/null
    fi
fi

[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip </dev/null
if (( want_test )); then
    .venv/bin/python -m pip install -q -c constraints.txt -e '.[test]' </dev/null
else
    .venv/bin/python -m pip install -q -c constraints.txt -e . </dev/null
fi
