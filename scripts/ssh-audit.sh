#!/bin/sh
# Runs a current ssh-audit. Debian 12's ssh-audit (2.5.0) predates strict key exchange (the
# Terrapin fix, kex-strict-s-v00@openssh.com) and reports it as an unknown algorithm, so the
# package from Debian 13 (trixie) is fetched once into .cache/tools (arch: all, pure Python,
# verified by apt against the Debian archive key) without adding trixie to this machine's sources.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir="$here/.cache/tools/ssh-audit"
if [ ! -x "$dir/usr/bin/ssh-audit" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/lists/partial" "$work/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" > "$work/sources.list"
  opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists=$work/lists -o Dir::Cache::Archives=$work/archives -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o Debug::NoLocking=1 -o APT::Sandbox::User=root"
  # shellcheck disable=SC2086
  apt-get -qq $opts update >&2
  # shellcheck disable=SC2086
  (cd "$work" && apt-get -qq $opts download ssh-audit >&2)
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  dpkg-deb -x "$work"/ssh-audit_*.deb "$dir.tmp"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
PYTHONPATH="$dir/usr/lib/python3/dist-packages" exec /usr/bin/python3 "$dir/usr/bin/ssh-audit" "$@"
