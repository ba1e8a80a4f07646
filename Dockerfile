# CoreDNS with srvhealth: a static binary on a distroless base, running as non-root.
# Build: docker build -t REGISTRY/coredns-srvhealth:TAG .   (README, "Build")
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -tags grpcnotrace -ldflags "-s -w" -o /coredns ./cmd/coredns
# The file capability is how NET_BIND_SERVICE reaches a non-root process: containerd 1.x and CRI-O put
# an added capability in the bounding set only, and a process not run as root gets it from the file
# (Docker and containerd 2 lower ip_unprivileged_port_start instead). CoreDNS's own image does the same.
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*
RUN setcap cap_net_bind_service=+ep /coredns

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /coredns /coredns
# Numeric, so that the kubelet can check runAsNonRoot (a name is refused: "non-numeric user"). 65532 is
# distroless's nonroot.
USER 65532:65532
EXPOSE 53 53/udp 9153 8080 8181
ENTRYPOINT ["/coredns"]
