# snigate container image: build on Debian 12, run on Debian 12 slim with only
# the three runtime libraries. The config is expected at /etc/snigate/snigate.yaml
# (a ConfigMap in k8s/); the shipped default listens on loopback only.
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        gcc libc6-dev pkg-config meson ninja-build \
        liburing-dev libcyaml-dev libyaml-dev libunbound-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN meson setup /build -Dtests=false -Dbench=false --buildtype=release \
    && ninja -C /build

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        liburing2 libcyaml1 libyaml-0-2 libunbound8 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/core/snigate /usr/local/bin/snigate
COPY conf/snigate.yaml /etc/snigate/snigate.yaml
USER 65534:65534
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/snigate"]
CMD ["-c", "/etc/snigate/snigate.yaml"]
