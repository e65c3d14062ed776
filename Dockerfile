# smtpsink container image.
#
# Stage 1 (build) compiles smtpsink and smtpsinkctl on Debian 12 and gathers
# exactly what they need at run time: the shared libraries `ldd` names, the
# dynamic loader, a subset of glibc's iconv modules (so GMime can decode
# ISO-8859-x, windows-125x, KOI8, Japanese, Chinese and Korean headers and
# bodies), a static busybox (sh, cat, awk, grep, nc: what Testcontainers'
# port checks and the HEALTHCHECK use) and a passwd entry for a non-root user.
# Stage 2 is FROM scratch with only that tree: about 33 MB instead of the
# 75 MB of debian:bookworm-slim alone.
#
#   docker build -t smtpsink:latest -t smtpsink:0.1.0 .   # the version is CMakeLists.txt's
#   docker run --rm -p 1025:1025 -p 50051:50051 smtpsink

FROM debian:bookworm-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        cmake ninja-build pkg-config gcc libc6-dev binutils \
        libevent-dev libssl-dev libgmime-3.0-dev libgrpc-dev libprotobuf-c-dev libjansson-dev \
        protobuf-c-compiler grpc-proto libprotobuf-dev busybox-static \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# .dockerignore lets in only CMakeLists.txt, cmake/, include/, proto/, src/ and web/.
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build /build -j"$(nproc)" --target smtpsink smtpsinkctl

# Assemble the run-time root in /out.
RUN set -eu; \
    mkdir -p /out/usr/bin /out/etc /out/tmp; \
    chmod 1777 /out/tmp; \
    # for --tls-cert-out: a named volume mounted here starts writable by the user
    install -d -m 0755 -o 10001 -g 10001 /out/certs; \
    install -m 0755 -s /build/smtpsink /build/smtpsinkctl /out/usr/bin/; \
    # merged-/usr symlinks (bin, lib, lib64, sbin -> usr/...) as in Debian
    for d in bin sbin lib lib32 lib64 libx32; do \
        if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "/out/$d"; fi; \
    done; \
    # every library ldd names (plus the loader), at its canonical path
    for lib in $( for b in /out/usr/bin/smtpsink*; do ldd "$b"; done \
                  | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u ); do \
        dir="$(readlink -f "$(dirname "$lib")")"; \
        mkdir -p "/out$dir"; \
        cp -L "$lib" "/out$dir/$(basename "$lib")"; \
    done; \
    # iconv modules for the charsets mail really uses
    multiarch="$(gcc -print-multiarch)"; \
    g=/usr/lib/$multiarch/gconv; \
    mkdir -p "/out$g"; \
    cp -a "$g/gconv-modules" "$g/gconv-modules.cache" "$g/gconv-modules.d" "/out$g/"; \
    for m in ISO8859-1 ISO8859-2 ISO8859-3 ISO8859-4 ISO8859-5 ISO8859-6 ISO8859-7 \
             ISO8859-8 ISO8859-9 ISO8859-10 ISO8859-11 ISO8859-13 ISO8859-14 \
             ISO8859-15 ISO8859-16 CP1250 CP1251 CP1252 CP1253 CP1254 CP1255 \
             CP1256 CP1257 CP1258 KOI8-R KOI8-U ISO-2022-JP EUC-JP SJIS GBK \
             GB18030 BIG5 EUC-KR UHC EUC-CN ISO-2022-KR UTF-7 UTF-16 \
             UTF-32 UNICODE libJIS libGB libKSC; do \
        if [ -e "$g/$m.so" ]; then cp -a "$g/$m.so" "/out$g/"; fi; \
    done; \
    # a static shell and the few tools Testcontainers' port checks run
    cp /bin/busybox /out/usr/bin/busybox; \
    for a in sh cat awk grep nc ls ps sleep env true false id head tail sed wget; do \
        ln -s busybox "/out/usr/bin/$a"; \
    done; \
    echo 'root:x:0:0:root:/root:/sbin/nologin' >/out/etc/passwd; \
    echo 'smtpsink:x:10001:10001:smtpsink:/tmp:/sbin/nologin' >>/out/etc/passwd; \
    printf 'root:x:0:\nsmtpsink:x:10001:\n' >/out/etc/group; \
    # fail the build now, not at run time, if a library is missing
    chroot /out /usr/bin/smtpsink --version; \
    chroot /out /usr/bin/smtpsinkctl --version; \
    chroot /out /usr/bin/sh -c 'echo shell ok'

FROM scratch
COPY --from=build /out/ /
LABEL org.opencontainers.image.title="smtpsink" \
      org.opencontainers.image.description="SMTP sink for test suites: captures mail in memory, gRPC and HTTP control API" \
      org.opencontainers.image.licenses="MIT"
ENV SMTPSINK_SMTP_LISTEN=0.0.0.0:1025 \
    SMTPSINK_GRPC_LISTEN=0.0.0.0:50051 \
    SMTPSINK_HTTP_LISTEN=0.0.0.0:8025 \
    PATH=/usr/bin
EXPOSE 1025 50051 8025
USER 10001:10001
WORKDIR /tmp
# The port is taken from SMTPSINK_GRPC_LISTEN so the check follows overrides.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/bin/sh", "-c", "exec smtpsinkctl health --addr \"127.0.0.1:${SMTPSINK_GRPC_LISTEN##*:}\""]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/smtpsink"]
