#!/bin/sh
# Make sure buildah's store holds the Dockerfile's build base, debian:12.
# Where a container registry is reachable it is pulled as usual; where only the
# Debian archive is (this project's machines), the same release is built here
# with debootstrap from the mirror apt is already configured with, and stored
# under the name the Dockerfile asks for. Idempotent: a stored image is kept.
#   test/image/base-image.sh [STORAGE_DRIVER]
set -eu
driver=${1:-vfs}
name=docker.io/library/debian:12
bud() { buildah --storage-driver "$driver" "$@"; }

if bud inspect --type image "$name" >/dev/null 2>&1; then
	echo "base-image: $name is in the store"
	exit 0
fi
if timeout 60 buildah --storage-driver "$driver" pull -q "$name" >/dev/null 2>&1; then
	echo "base-image: pulled $name"
	exit 0
fi

command -v debootstrap >/dev/null || {
	echo "base-image: no registry and no debootstrap (apt-get install debootstrap)" >&2
	exit 1
}
# The mirror apt uses: the first "URIs:" of a deb822 source, else the first
# "deb" line of sources.list.
mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
	/etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list)
[ -n "$mirror" ] || { echo "base-image: no apt mirror configured" >&2; exit 1; }

work=$(mktemp -d /var/tmp/snigate-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "base-image: no registry; debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/log" 2>&1 || {
	tail -n 20 "$work/log" >&2
	exit 1
}
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
tar -C "$work/rootfs" --numeric-owner -cf "$work/rootfs.tar" .
ctr=$(bud from scratch)
bud add "$ctr" "$work/rootfs.tar" / >/dev/null
bud config --cmd '["/bin/bash"]' --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$ctr"
bud commit -q --rm "$ctr" "$name" >/dev/null
echo "base-image: built $name with debootstrap"
