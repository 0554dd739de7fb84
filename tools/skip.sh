#!/usr/bin/env bash
# Usage: tools/skip.sh SUITE "INSTALL COMMAND"
# A suite whose toolchain is missing is skipped loudly on a developer's
# machine and is a failure under CI=true, where everything must run.
suite=$1
install=$2
if [ "${CI:-}" = "true" ]; then
    echo "FAILED: the $suite suite cannot run (toolchain missing) and CI=true requires it."
    echo "        install with: $install"
    exit 1
fi
echo "######################################################################"
echo "### SKIPPED: $suite (toolchain missing)"
echo "### install with: $install"
echo "######################################################################"
