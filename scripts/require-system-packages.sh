#!/usr/bin/env bash
# Makes sure the system programs the tests and the local stack run for real are present:
# nats-server (Debian package nats-server), OpenSSH's sshd and sftp (openssh-server,
# openssh-client), python3 with pip and venv (python3-pip, python3-venv) and mkfs.xfs
# (xfsprogs), headless Chromium (chromium); with the argument `bench`, also the AWS CLI (awscli)
# and rclone (rclone).
# As root with apt-get it installs what is missing; elsewhere it stops and says what to install.
set -euo pipefail

missing=()
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || missing+=(nats-server)
[ -x /usr/sbin/sshd ] || command -v sshd >/dev/null 2>&1 || missing+=(openssh-server)
command -v sftp >/dev/null 2>&1 || missing+=(openssh-client)
# mkfs.xfs: tests and the bench stage into a real copy-on-write filesystem (an XFS loop mount).
command -v mkfs.xfs >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.xfs ] || missing+=(xfsprogs)
# The Python client and the raw-producer test (standard library only; pip installs the client
# with its own build backend, setuptools is not needed for it).
[ -x /usr/bin/python3 ] || missing+=(python3)
# setuptools first: imported after pip, its distutils shim asserts on Debian 12 and the check
# failed (and apt-get ran) on every run although both were installed.
/usr/bin/python3 -c "import setuptools, pip" >/dev/null 2>&1 || missing+=(python3-pip python3-setuptools)
# python3 -m venv: the client's README installs into a fresh venv, and a test runs it as written.
# Debian ships ensurepip (what venv needs to put pip in it) only in python3-venv.
/usr/bin/python3 -c "import ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
# The operations page's browser tests drive Debian's Chromium headless through playwright-core:
# playwright's own browser download cannot work here (no internet on many clusters).
[ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# `npm run bench` (argument "bench") also runs the tools users would run instead: aws s3 cp, and
# rclone copyto (a second peer for S3 and SFTP).
if [ "${1:-}" = bench ]; then
  command -v aws >/dev/null 2>&1 || missing+=(awscli)
  command -v rclone >/dev/null 2>&1 || missing+=(rclone)
fi

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "artifact-bus: installing ${missing[*]} with apt-get" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  # Debian's package starts sshd on port 22 where it can; the tests run their own on free ports.
  exit 0
fi

echo "artifact-bus: missing system packages: ${missing[*]}" >&2
echo "  install them first, e.g.: sudo apt-get install ${missing[*]}" >&2
exit 1
