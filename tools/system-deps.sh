#!/usr/bin/env bash
# The Debian packages the tests, `make lint` (shellcheck), `make walkthrough` (chromium) and
# the check of the bytes on other CPUs (qemu-user: tests/test_cpu_kinds.py) need,
# installed when missing.
# Each line below: a package and the command that shows it is installed. The README's
# Quickstart lists the same packages (tests/test_project.py keeps the two equal).
# When they cannot be installed (no apt-get, no rights), one line names them and the command;
# the tests that need them then fail with that same line.
set -uo pipefail

PACKAGES="
chromium chromium
chromium-driver chromedriver
shellcheck shellcheck
qemu-user qemu-x86_64
"

missing=()
while read -r package command; do
    [ -n "$package" ] || continue
    command -v "$command" > /dev/null 2>&1 || missing+=("$package")
done <<< "$PACKAGES"
[ ${#missing[@]} -eq 0 ] && exit 0

line="missing system packages: ${missing[*]} (install them: sudo apt-get install -y ${missing[*]})"
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo -n"; fi
if ! command -v apt-get > /dev/null 2>&1 || { [ -n "$sudo" ] && ! sudo -n true 2> /dev/null; }; then
    echo "$line" >&2
    exit 0
fi
echo "installing system packages: ${missing[*]}"
if ! { $sudo apt-get update -q && $sudo apt-get install -y -q "${missing[@]}"; } > /dev/null; then
    echo "$line" >&2
fi
exit 0
