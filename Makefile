# kiln: `make run` starts the daemon on its embedded dev config; `make test`
# runs every test. See README.md for what each target covers.

GO           ?= go
# The version: VERSION=... on the command line, else from `git describe`
# (see tools/version), else BASE_VERSION with the commit count and hash.
BASE_VERSION := 0.1.0
ifeq ($(origin VERSION),undefined)
VERSION      := $(shell tools/version $(BASE_VERSION))
endif
ARCH         := $(shell $(GO) env GOARCH)
RPMARCH      := $(shell uname -m)
# Where build puts the binaries and man pages; the e2e builds an older
# version into another directory.
BIN          ?= bin
NFPM         := $(GO) tool -modfile=tools/go.mod nfpm
DEB          := dist/kiln_$(VERSION)-1_$(ARCH).deb
RPM          := dist/kiln-$(VERSION)-1.$(RPMARCH).rpm

# Hardened release binaries: position-independent, full RELRO with BIND_NOW,
# no symbol table or DWARF, no build paths; the C side (the libvips binding)
# with _FORTIFY_SOURCE and a stack protector. External linking is what
# carries the RELRO/BIND_NOW flags into a cgo binary.
BUILDFLAGS   := -trimpath -buildmode=pie
LDFLAGS      := -s -w -X main.version=$(VERSION) -linkmode=external -extldflags '-Wl,-z,relro,-z,now'
CGO_HARDENING := CGO_CPPFLAGS='-D_FORTIFY_SOURCE=2' CGO_CFLAGS='-O2 -fstack-protector-strong' CGO_LDFLAGS='-Wl,-z,relro,-z,now'

# Debian packages each step needs; tools/need-packages installs them as root
# or prints the apt-get line.
BUILD_DEPS   := libvips-dev pkg-config binutils
TEST_DEPS    := $(BUILD_DEPS) rsyslog libvips-tools zsh colord-data prometheus chromium rabbitmq-server amqp-tools
PKG_DEPS     := $(BUILD_DEPS) go-md2man dpkg-dev binutils rpm
LINT_DEPS    := lintian rpmlint rpm cpio
E2E_DEPS     := debootstrap systemd-container libvips-tools

MANPAGES     := $(BIN)/man/kilnd.8.gz $(BIN)/man/kilnctl.1.gz $(BIN)/man/kiln.toml.5.gz

.PHONY: all build man run test check go-test test-rabbitmq test-rabbitmq-4 test-image-13 e2e packages lint-packages deps-build deps-test clean bench-queue bench-backlog bench-history bench-image crashtest fuzz screenshots

all: build

deps-build:
	@tools/need-packages $(BUILD_DEPS)

deps-test:
	@tools/need-packages $(TEST_DEPS)

# The C compiler's .comment section is dropped too, as dh_strip does.
build: deps-build
	$(CGO_HARDENING) $(GO) build $(BUILDFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/kilnd ./cmd/kilnctl
	objcopy --remove-section=.comment $(BIN)/kilnd
	objcopy --remove-section=.comment $(BIN)/kilnctl

# Man pages: one Markdown source each in packaging/man, turned into roff by
# go-md2man and compressed as both package formats expect.
man: $(MANPAGES)

$(BIN)/man/%.gz: packaging/man/%.md
	@tools/need-packages go-md2man
	@mkdir -p $(BIN)/man
	go-md2man -in $< -out $(BIN)/man/$*
	gzip -9nf $(BIN)/man/$*

run: build
	./$(BIN)/kilnd -dev

# The whole suite: static checks, Go tests with the race detector (unit tests
# and the tests that drive the real kilnd binary), the kill -9 crash test,
# the fuzzer, then the packages' lint and the end-to-end test under real
# systemd.
test: check go-test test-rabbitmq test-rabbitmq-4 crashtest fuzz e2e

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

# The RabbitMQ conformance suite and the test-rabbitmq suite again, on
# Debian 13's RabbitMQ 4.0 from a root tools/trixie-root makes once under
# var/cache/trixie (needs root). Both suites run even when the
# first fails.
test-rabbitmq-4: deps-test build
	@root=$$(tools/trixie-root) && export KILN_TEST_RABBITMQ_ROOT="$$root" && status=0 && \
	echo "KILN_TEST_RABBITMQ_ROOT=$$root" && \
	{ $(GO) test -race -count=1 ./worker/queue/rabbitmq || status=1; } && \
	{ KILN_TEST_RABBITMQ=1 $(GO) test -count=1 -timeout 20m -v ./e2e/rabbitmq || status=1; } && \
	exit $$status

# The kilnd tests of pictures and of config checks that test-image-13 runs
# on Debian 13 (those that need a tool the root lacks, such as Prometheus
# or chromium, are left to go-test).
KILND_IMAGE_TESTS := ^(TestHostilePicturesThroughKilnd|TestCheckConfig|TestReloadRefuses|TestEveryFormatPassesTheChecksAndIsWritten|TestConfigErrorsExit78|TestTypoPathsLoseNothing|TestInboxCheckConfig|TestInboxReloadKeepsTheInbox|TestInboxTakes|TestDefaultInputRootIsTheUploadDirectory|TestEmptyInputRootsAreWarnedOf|TestKilledWorkerFailsOnlyItsAttempt|TestHungWorkerIsKilledAtTimeout|TestPictureThatAlwaysKillsItsWorkerEndsDead|TestReloadAppliesGoodConfigAndRefusesBadOne|TestReloadBlockingSVGReachesEveryWorker|TestReloadRecycleAfterReachesWorkers|TestSubmitWaitWritesEveryVariant|TestBadSubmitsAreRefusedAndQueueNothing|TestUndecodablePictureEndsDeadAndDaemonServes|TestSubmitManyPictures|TestSubmitsRefuse|TestPipelineThenCommandThroughKilnd|TestCommandThenImageThroughKilnd|TestThenOfNothingIsAConfigError|TestCommandProgramMissingIsAConfigError)

# The image tests again on Debian 13's libvips 8.16 and libheif with its
# plug-ins, built against the root's libvips-dev in the root
# tools/trixie-root makes (needs root): worker/image whole and the kilnd
# tests above. The Go modules are fetched on the host, into the module
# cache tools/in-root gives the root, and the tests run offline: the root
# trusts only Debian's CAs, not those a host's proxy may need. The go.mod
# in var/cache makes that cache a module of its own, which ./... leaves
# out. Both packages run even when the first fails.
test-image-13:
	@root=$$(tools/trixie-root) && mkdir -p var/cache && \
	{ [ -f var/cache/go.mod ] || echo 'module kiln.cache' >var/cache/go.mod; } && \
	GOMODCACHE="$(CURDIR)/var/cache/go-$$(basename "$$(dirname "$$root")")/mod" $(GO) mod download && \
	status=0 && \
	{ GOPROXY=off tools/in-root "$$root" go test -race -count=1 ./worker/image || status=1; } && \
	{ GOPROXY=off tools/in-root "$$root" go test -race -count=1 -run '$(KILND_IMAGE_TESTS)' ./cmd/kilnd || status=1; } && \
	exit $$status

# dist/kiln_<version>-1_<arch>.deb (nfpm) and dist/kiln-<version>-1.<arch>.rpm
# (rpmbuild, from packaging/kiln.spec). Both depend on the shared libraries
# the built binaries really link: dpkg-shlibdeps for the .deb, rpm's own ELF
# dependency generator for the .rpm.
packages: build man
	@tools/need-packages $(PKG_DEPS)
	mkdir -p dist
	KILN_VERSION=$(VERSION) KILN_ARCH=$(ARCH) KILN_BIN=$(BIN) \
		KILN_SHLIBS="$$(tools/shlibdeps $(BIN)/kilnd $(BIN)/kilnctl)" \
		$(NFPM) package -f packaging/nfpm.yaml -p deb -t $(DEB)
	tools/build-rpm $(VERSION) $(BIN) $(RPM)

# Drives the dashboard in headless chromium and keeps a screenshot of each
# page under var/screenshots/_artifacts/*/.
screenshots: deps-test
	rm -rf var/screenshots && mkdir -p var/screenshots
	$(GO) test -count=1 -run 'TestDashboardInChromium' -v -artifacts -outputdir $(CURDIR)/var/screenshots ./cmd/kilnd

# lintian --pedantic and rpmlint on the packages: no error and no warning
# (rpmlint's remaining warnings are explained in packaging/rpmlintrc).
lint-packages: packages
	@tools/need-packages $(LINT_DEPS)
	tools/lint-packages $(DEB) $(RPM)

# Installs the packages into a Debian 12 root booted under systemd-nspawn and
# drives them with systemctl, kilnctl and journalctl: the .deb with apt-get
# (and an upgrade from an older version built from this tree), then the .rpm
# with rpm. Needs root.
e2e: lint-packages
	@tools/need-packages $(E2E_DEPS)
	$(MAKE) --no-print-directory packages VERSION='$(VERSION)~prev' BIN=var/prev
	e2e/nspawn.sh dist/kiln_$(VERSION)~prev-1_$(ARCH).deb $(DEB) \
		dist/kiln-$(VERSION)~prev-1.$(RPMARCH).rpm $(RPM)

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
	$(GO) run ./e2e/crash -bin $(BIN) -cycles 100

# kiln's queue against RabbitMQ and goqite, side by side (a few minutes).
bench-queue: build
	@tools/need-packages rabbitmq-server
	bench/queue.sh

# kilnd with 1k, 100k and 1M queued jobs: memory, start to READY, status
# latency, dispatch rate (several minutes; needs ~3 GB of disk in $TMPDIR).
bench-backlog: build
	cd bench && go run ./backlog -bin ../$(BIN)

# kilnd on the rabbitmq backend after 1k and 1M jobs of history on a private
# broker: start to READY, right answers, memory and CPU of the host that ran
# them, of that host restarted and of a new host (about 15 minutes on 2
# cores; needs a few GB of memory and of disk in $TMPDIR).
bench-history: build
	@tools/need-packages rabbitmq-server
	cd bench && go run ./history -bin ../$(BIN)

# kiln's image jobs on real photographs (12 MP mosaics of the KDE wallpaper
# photographs, built once under bench/.cache) against the floor, per-output
# decoding as image servers do it, and the libvips CLI (a few minutes).
bench-image: build
	@tools/need-packages libvips-tools plasma-workspace-wallpapers
	bench/image.sh

clean:
	rm -rf bin dist var
