#!/usr/bin/env bash
# The Debian packages the test suite needs besides Python, Java and Maven, in one place for `make test` and
# `.ci/run`: make and python3-venv (Debian's python3 lacks venv/ensurepip) to build .venv; chromium for the
# browser tests of the website snippet and the monthly report; prometheus (promtool) and
# prometheus-alertmanager (amtool) for the alert rules, their unit tests and the end-to-end alerting test.
#
# Installs what is missing when run as root where apt-get exists; otherwise names the packages on one line and
# exits 1 at once, before anything slow runs. PYTHON is the interpreter that will create .venv (default python3).
# Uses shell builtins only, apart from `id`, the interpreter and apt-get.
set -euo pipefail

missing=()
command -v make >/dev/null 2>&1 || missing+=(make)
"${PYTHON:-python3}" -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    exit 0
fi
echo "test-deps: the tests need the Debian packages ${missing[*]}: run 'apt-get install ${missing[*]}' as root" >&2
exit 1
