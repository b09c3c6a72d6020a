#!/bin/sh
# Runs as root inside the image after its packages are installed (build.sh and Dockerfile).
set -eu
# tsc loads the type packages in node_modules/@types of every enclosing folder. Node's own
# types ship with libnode in /usr/share/nodejs/@types/node; linking them at the root makes
# `tsc file.ts` know `process`, `require` and the node: modules anywhere in the sandbox.
mkdir -p /node_modules/@types
[ -e /node_modules/@types/node ] || ln -s /usr/share/nodejs/@types/node /node_modules/@types/node
