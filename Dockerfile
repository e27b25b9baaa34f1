# Builds a static helm-service binary and runs it as a non-root user on a
# distroless base.
FROM golang:1.26 AS build
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd ./cmd
COPY pkg ./pkg
COPY handler ./handler
COPY eventbus ./eventbus
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/helm-service ./cmd/helm-service

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/helm-service /helm-service
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/helm-service"]
