# CoreDNS with srvhealth: a static binary on a distroless base, running as non-root.
# Build: docker build -t coredns-srvhealth .
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -tags grpcnotrace -ldflags "-s -w" -o /coredns ./cmd/coredns

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /coredns /coredns
USER nonroot:nonroot
EXPOSE 53 53/udp 9153 8080 8181
ENTRYPOINT ["/coredns"]
