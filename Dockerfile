# snigate container image: one statically linked binary and its default config in
# an otherwise empty image. Nothing else is in it: no shell, no libc, no
# /etc/passwd; it runs as UID/GID 65532 given by number.
#
#   make image        buildah bud --isolation chroot --storage-driver vfs -t snigate:dev .
#   make image-test   runs the built image against a loopback unbound and s_server
#
# Listens on 0.0.0.0:8443 (TLS, like the Envoy pod) and, with admin.address set in
# the config, 9901 (/ready, /healthz). Mount the real config over
# /etc/snigate/snigate.yaml (k8s/base does, from a ConfigMap).

# ---- build: Debian 12, the same packages as `make deps`, plus the static
# archives libunbound.a needs (its Libs.private: libevent, nettle/hogweed, gmp).
FROM debian:12 AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev pkg-config meson ninja-build binutils \
        liburing-dev libcyaml-dev libyaml-dev libunbound-dev \
        libevent-dev nettle-dev libgmp-dev publicsuffix python3 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# -static: glibc's NSS functions that libunbound.a references (getpwnam,
# getaddrinfo, getservbyname) are never called by snigate: addresses are
# literals, and libunbound reads resolv.conf itself. test/image/run.sh proves
# the image starts, resolves and relays with no NSS file in it.
# --check exits 2 for a bad config, which fails the build; 1 only says that
# this build sandbox's seccomp profile takes io_uring away, which is the
# runtime's business (the pod's profile), not the image's.
RUN meson setup /build -Dstatic_build=true -Dtests=false -Dbench=false \
        --buildtype=release \
    && ninja -C /build core/snigate \
    && strip /build/core/snigate \
    && /build/core/snigate --version \
    && { /build/core/snigate --check -c conf/snigate-container.yaml; rc=$?; \
         [ $rc -eq 0 ] || [ $rc -eq 1 ]; } \
    && mkdir -p /rootfs/etc/snigate \
    && cp /build/core/snigate /rootfs/snigate \
    && cp conf/snigate-container.yaml /rootfs/etc/snigate/snigate.yaml

# ---- final: nothing but the binary and the default config.
FROM scratch
COPY --from=build /rootfs/ /
USER 65532:65532
EXPOSE 8443 9901
ENTRYPOINT ["/snigate"]
CMD ["-c", "/etc/snigate/snigate.yaml"]
