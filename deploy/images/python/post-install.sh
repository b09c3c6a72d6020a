#!/bin/sh
# Runs as root inside the image after its packages are installed (build.sh and Dockerfile).
set -eu
# Debian names the command ipython3 only; users and tools expect `ipython` too.
[ -e /usr/bin/ipython ] || ln -s ipython3 /usr/bin/ipython
