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
# One .deb per Debian suite, each built on (or in a root of) its suite and
# linked against that suite's libraries: <version>-1~deb12 and
# <version>-1~deb13, which dpkg orders 12 below 13 (an upgrade of the OS
# from 12 to 13 takes the 13 build) and both above any older <version>.
# DEB_SUITE is this machine's (tools/deb-suite; evaluated only when a
# target uses it, so other systems can still build and test), DEB its .deb.
DEB_SUITE     = $(shell tools/deb-suite)
deb_file      = dist/kiln_$(2)-1~$(1)_$(ARCH).deb
DEB12        := $(call deb_file,deb12,$(VERSION))
DEB13        := $(call deb_file,deb13,$(VERSION))
DEB           = $(call deb_file,$(DEB_SUITE),$(VERSION))
RPM          := dist/kiln-$(VERSION)-1.$(RPMARCH).rpm
# Where packages-all builds the Debian 13 binaries and man pages, inside the
# Debian 13 root, apart from the host's $(BIN).
BIN13        := bin/deb13

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
TEST_DEPS    := $(BUILD_DEPS) rsyslog libvips-tools zsh colord-data prometheus chromium rabbitmq-server amqp-tools curl python3
DEB_DEPS     := $(BUILD_DEPS) go-md2man dpkg-dev
RPM_DEPS     := $(BUILD_DEPS) go-md2man rpm
LINT_DEPS    := lintian rpmlint rpm cpio
E2E_DEPS     := debootstrap systemd-container libvips-tools
# What make e2e installs on each suite: an older version built from this
# tree (installed first, then upgraded from) and this version, each
# suite's own .deb; the .rpm is the same on both.
E2E_PREV_RPM := dist/kiln-$(VERSION)~prev-1.$(RPMARCH).rpm
E2E_DEB12_OLD ?= $(call deb_file,deb12,$(VERSION)~prev)
E2E_DEB12_NEW ?= $(DEB12)
E2E_DEB13_OLD ?= $(call deb_file,deb13,$(VERSION)~prev)
E2E_DEB13_NEW ?= $(DEB13)
E2E_SUMMARY  := var/e2e-summary

MANPAGES     := $(BIN)/man/kilnd.8.gz $(BIN)/man/kilnctl.1.gz $(BIN)/man/kiln.toml.5.gz

.PHONY: all build man run test prepare-roots check go-test test-rabbitmq test-rabbitmq-4 test-image-13 e2e packages packages-all deb-suite deb rpm lint-packages lint-packages-all deps-build deps-test clean bench-queue bench-backlog bench-history bench-image crashtest fuzz screenshots

all: build

deps-build:
	@tools/need-packages $(BUILD_DEPS)

deps-test:
	@tools/need-packages $(TEST_DEPS)

# kiln-image-worker is the process kilnd decodes pictures in; kilnd finds
# it beside itself (bin/ for make run) or in /usr/libexec/kiln.
# The C compiler's .comment section is dropped too, as dh_strip does.
build: deps-build
	$(CGO_HARDENING) $(GO) build $(BUILDFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN)/ ./cmd/kilnd ./cmd/kilnctl ./cmd/kiln-image-worker
	objcopy --remove-section=.comment $(BIN)/kilnd
	objcopy --remove-section=.comment $(BIN)/kilnctl
	objcopy --remove-section=.comment $(BIN)/kiln-image-worker

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
# and the tests that drive the real kilnd binary), the RabbitMQ suites on
# RabbitMQ 3.10 and 4.0, the image tests on Debian 13's libvips, the kill -9
# crash test, the fuzzer, then both suites' packages, their lint and the
# end-to-end test under real systemd on Debian 12 and 13.
# Each part's time is printed as it ends, and all of them at the end.
# prepare-roots makes the container roots in the background while the
# RabbitMQ suites run.
test:
	@MAKE='$(MAKE)' tools/timed-steps check go-test prepare-roots test-rabbitmq test-rabbitmq-4 test-image-13 crashtest fuzz e2e

# Starts tools/prepare-roots in the background (its output in
# var/log/prepare-roots.log) and returns at once; the steps that need a
# root wait for it on the root's lock.
prepare-roots:
	@mkdir -p var/log && (setsid tools/prepare-roots >var/log/prepare-roots.log 2>&1 &) && \
	echo "make test: making the container roots in the background (var/log/prepare-roots.log)"

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
# tests above, offline with the host's Go modules (tools/in-root). Both
# packages run even when the first fails.
test-image-13:
	@root=$$(tools/trixie-root) && status=0 && \
	{ tools/in-root "$$root" go test -race -count=1 ./worker/image ./worker/image/render || status=1; } && \
	{ tools/in-root "$$root" go test -race -count=1 -run '$(KILND_IMAGE_TESTS)' ./cmd/kilnd || status=1; } && \
	exit $$status

# dist/kiln_<version>-1~<suite>_<arch>.deb for this machine's Debian suite
# (nfpm) and dist/kiln-<version>-1.<arch>.rpm (rpmbuild, from
# packaging/kiln.spec). Both depend on the shared libraries the built
# binaries really link: dpkg-shlibdeps for the .deb (with what the suite's
# libraries need beyond that for kiln's output formats, see
# packaging/deb/suite-depends), rpm's own ELF dependency generator for the
# .rpm.
packages: deb rpm

# Refuses a system that is neither Debian 12 nor 13 before anything is built.
deb-suite:
	@tools/deb-suite >/dev/null

deb: deb-suite build man
	@tools/need-packages $(DEB_DEPS)
	mkdir -p dist
	depends=$$(tools/deb-depends $(DEB_SUITE) $(BIN)/kilnd $(BIN)/kilnctl $(BIN)/kiln-image-worker) && \
	echo "tools/deb-depends: $$depends" && \
	KILN_VERSION=$(VERSION) KILN_RELEASE=1~$(DEB_SUITE) KILN_ARCH=$(ARCH) KILN_BIN=$(BIN) \
		KILN_DEPENDS="$$depends" \
		$(NFPM) package -f packaging/nfpm.yaml -p deb -t $(DEB)

rpm: build man
	@tools/need-packages $(RPM_DEPS)
	mkdir -p dist
	tools/build-rpm $(VERSION) $(BIN) $(RPM)

# Both suites' .debs and the .rpm: the Debian 12 .deb and the .rpm on the
# host, which must be Debian 12; the Debian 13 .deb inside the Debian 13
# root of tools/trixie-root (tools/build-deb13), compiled against its
# libvips 8.16 headers into $(BIN13) and given the Depends of that root's
# dpkg-shlibdeps.
packages-all: packages
	@[ "$(DEB_SUITE)" = deb12 ] || { echo "packages-all: the Debian 12 .deb is built on the host, which must be Debian 12 (bookworm); this one is $(DEB_SUITE)" >&2; exit 1; }
	tools/build-deb13 '$(VERSION)' $(BIN13)
	@test -f $(DEB13) || { echo "packages-all: the Debian 13 build did not make $(DEB13)" >&2; exit 1; }

# Drives the dashboard in headless chromium and keeps a screenshot of each
# page under var/screenshots/_artifacts/*/.
screenshots: deps-test
	rm -rf var/screenshots && mkdir -p var/screenshots
	$(GO) test -count=1 -run 'TestDashboard(Charts)?InChromium' -v -artifacts -outputdir $(CURDIR)/var/screenshots ./cmd/kilnd

# lintian --pedantic and rpmlint on what `make packages` built, with this
# machine's tools: no error and no warning (rpmlint's expected findings are
# filtered in packaging/rpmlint/, each with its reason).
lint-packages: packages
	@tools/need-packages $(LINT_DEPS)
	tools/lint-packages $(DEB) $(RPM)

# The same on what `make packages-all` built, each suite's .deb with its own
# suite's lintian (the host's for Debian 12, the Debian 13 root's for
# Debian 13) and the .rpm with both rpmlints (2.4 here, 2.7 in the root);
# and the two .debs' versions in the order upgrades need. Every check runs
# even when one before it fails.
lint-packages-all: packages-all
	@tools/need-packages $(LINT_DEPS)
	@root=$$(tools/trixie-root) && status=0 && \
	tools/in-root "$$root" env KILN_NO_INSTALL=1 tools/need-packages $(LINT_DEPS) && \
	{ tools/check-deb-order $(DEB12) $(DEB13) || status=1; } && \
	{ tools/lint-deb $(DEB12) || status=1; } && \
	{ tools/in-root "$$root" tools/lint-deb $(DEB13) || status=1; } && \
	{ tools/lint-rpm $(RPM) || status=1; } && \
	{ tools/in-root "$$root" tools/lint-rpm $(RPM) || status=1; } && \
	exit $$status

# Installs each suite's packages into a Debian 12 root and then into a
# Debian 13 root, each booted under systemd-nspawn, and drives them with systemctl, kilnctl
# and journalctl: the .deb with apt-get (and an upgrade from an older
# version built from this tree), then the .rpm with rpm. Both suites run
# even when the first fails; the target fails if either does. The last
# lines are each suite's counts and time, then the total (a suite that
# stopped early counts one failure more). Needs root.
e2e: lint-packages-all
	@tools/need-packages $(E2E_DEPS)
	$(MAKE) --no-print-directory packages-all VERSION='$(VERSION)~prev' BIN=var/prev BIN13=var/prev13
	@mkdir -p $(dir $(E2E_SUMMARY)) && rm -f $(E2E_SUMMARY) && status=0 && \
	{ e2e/nspawn.sh --suite bookworm --summary $(E2E_SUMMARY) \
		$(E2E_DEB12_OLD) $(E2E_DEB12_NEW) $(E2E_PREV_RPM) $(RPM) || status=1; } && \
	{ e2e/nspawn.sh --suite trixie --summary $(E2E_SUMMARY) \
		$(E2E_DEB13_OLD) $(E2E_DEB13_NEW) $(E2E_PREV_RPM) $(RPM) || status=1; } && \
	echo && cat $(E2E_SUMMARY) && \
	awk '{ for (i = 2; i <= NF; i++) { if ($$i == "PASS,") p += $$(i - 1); if ($$i ~ /^FAIL/) f += $$(i - 1) } } /stopped early/ { f++ } \
		END { if (NR != 2) { print "e2e: " NR " of 2 suites reported"; f++ } printf "e2e: %d passed, %d failed\n", p, f }' $(E2E_SUMMARY) && \
	exit $$status

# Fuzzes the decode-and-process entry point with 90,000 hostile inputs
# (about a minute here), starting from the committed corpus in
# worker/image/testdata/fuzz; then, coverage-guided, the one-pass JSON check
# of the submit path against encoding/json (internal/jsonscan), the plain
# submit decode against the full one, and the plain answer against
# encoding/json's (about 20 s each). The coverage-guided mode of `go test -fuzz`
# stalls after a few executions once libvips is loaded, so the fuzzer runs
# unguided (random mutation) here. The budget is a count, not a time: with a
# time, Go 1.26's fuzzing coordinator can report its own deadline as a
# failure when it ends (golang/go#75804, fixed in Go 1.27).
fuzz: deps-build
	$(GO) test -c -o bin/image-fuzz.test ./worker/image
	cd worker/image && ../../bin/image-fuzz.test -test.run '^$$' -test.fuzz FuzzRender -test.fuzztime 90000x -test.fuzzcachedir $(CURDIR)/var/fuzzcache
	$(GO) test -run '^$$' -fuzz '^FuzzValue$$' -fuzztime 300000x ./internal/jsonscan
	$(GO) test -run '^$$' -fuzz '^FuzzPlainString$$' -fuzztime 300000x ./internal/jsonscan
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeSubmitPlain$$' -fuzztime 300000x ./daemon
	$(GO) test -run '^$$' -fuzz '^FuzzSubmittedAppendPlainJSON$$' -fuzztime 100000x ./api
	$(GO) test -run '^$$' -fuzz '^FuzzString$$' -fuzztime 200000x ./internal/jsonwrite

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
