# kiln: `make run` starts the daemon on its embedded dev config; `make test`
# runs every test. See README.md for what each target covers.

GO        ?= go
VERSION   ?= 0.1.0
ARCH      := $(shell $(GO) env GOARCH)
LDFLAGS   := -X main.version=$(VERSION)
NFPM      := $(GO) tool -modfile=tools/go.mod nfpm

# Debian packages each step needs; tools/need-packages installs them as root
# or prints the apt-get line.
BUILD_DEPS := libvips-dev pkg-config
TEST_DEPS  := $(BUILD_DEPS) rsyslog libvips-tools rabbitmq-server amqp-tools
E2E_DEPS   := debootstrap systemd-container libvips-tools

.PHONY: all build run test check go-test test-rabbitmq e2e packages deps-build deps-test clean bench-queue bench-backlog bench-image crashtest fuzz

all: build

deps-build:
	@tools/need-packages $(BUILD_DEPS)

deps-test:
	@tools/need-packages $(TEST_DEPS)

build: deps-build
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/kilnd ./cmd/kilnctl

run: build
	./bin/kilnd -dev

# The whole suite: static checks, Go tests with the race detector (unit tests
# and the tests that drive the real kilnd binary), the kill -9 crash test,
# then the end-to-end test under real systemd.
test: check go-test test-rabbitmq crashtest fuzz e2e

check: deps-build
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on: $$unformatted"; exit 1; fi
	$(GO) vet ./...

go-test: deps-test build
	$(GO) test -race -count=1 ./...

# kilnd on the rabbitmq backend against RabbitMQ nodes the tests start:
# several kilnd on one broker, kill -9 of a kilnd and of the broker, a
# three-node cluster losing its leader, bad settings, vhosts (a few minutes).
test-rabbitmq: deps-test build
	KILN_TEST_RABBITMQ=1 $(GO) test -count=1 -timeout 20m -v ./e2e/rabbitmq

packages: build
	mkdir -p dist
	KILN_VERSION=$(VERSION) KILN_ARCH=$(ARCH) $(NFPM) package -f packaging/nfpm.yaml -p deb -t dist/
	KILN_VERSION=$(VERSION) KILN_ARCH=$(ARCH) $(NFPM) package -f packaging/nfpm.yaml -p rpm -t dist/

# Installs the .deb into a Debian 12 root booted under systemd-nspawn and
# drives it with systemctl, kilnctl and journalctl. Needs root.
e2e: packages
	@tools/need-packages $(E2E_DEPS)
	e2e/nspawn.sh dist/kiln_$(VERSION)-1_$(ARCH).deb

# Fuzzes the decode-and-process entry point with hostile bytes for 60 s,
# starting from the committed corpus in worker/image/testdata/fuzz. The
# coverage-guided mode of `go test -fuzz` stalls after a few executions once
# libvips is loaded, so the fuzzer runs unguided (random mutation) here.
fuzz: deps-build
	$(GO) test -c -o bin/image-fuzz.test ./worker/image
	cd worker/image && ../../bin/image-fuzz.test -test.run '^$$' -test.fuzz FuzzRender -test.fuzztime 60s -test.fuzzcachedir $(CURDIR)/var/fuzzcache

# 100 cycles of kill -9 at random moments while producers submit and workers
# run; then every acknowledged job must have completed (about a minute).
crashtest: build
	$(GO) run ./e2e/crash -bin bin -cycles 100

# kiln's queue against RabbitMQ and goqite, side by side (a few minutes).
bench-queue: build
	@tools/need-packages rabbitmq-server
	bench/queue.sh

# kilnd with 1k, 100k and 1M queued jobs: memory, start to READY, status
# latency, dispatch rate (several minutes; needs ~3 GB of disk in $TMPDIR).
bench-backlog: build
	cd bench && go run ./backlog -bin ../bin

# kiln's standard image job (a 12 MP JPEG to six variants) against the
# libvips CLI, ImageMagick, pure Go and the floor (a few minutes).
bench-image: build
	@tools/need-packages libvips-tools imagemagick
	bench/image.sh

clean:
	rm -rf bin dist var
