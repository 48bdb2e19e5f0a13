# Keywarden — the two set-up commands are `make run` and `make test`.
GO        ?= go
BIN       := bin
DATA_DIR  ?= .keywarden-data
LISTEN    ?= 127.0.0.1:8443
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/keywarden/keywarden/appliance.Build=$(VERSION)
# Short, bounded fuzz runs inside `make test` (Go's fuzzer reports its first
# batch only after ~10 s, so shorter runs barely fuzz); `make fuzz FUZZTIME=10m`
# for long ones.
FUZZTIME  ?= 30s
FUZZ_TARGETS := \
	./appliance/keys:FuzzFromJSON \
	./appliance/keys:FuzzFromPEM \
	./appliance/keys:FuzzFromDER \
	./appliance/keys:FuzzUnmarshalBinary \
	./appliance/api:FuzzDecodeRequests \
	./rot/tpm:FuzzParseBlob \
	./appliance/backupfile:FuzzReader
# Debian packages the tests need, as "command:package".
TEST_DEPS := systemd-analyze:systemd openssl:openssl softhsm2-util:softhsm2 swtpm:swtpm swtpm_setup:swtpm-tools tpm2_pcrextend:tpm2-tools

.PHONY: all build run test test-deps unit fuzz bench chaos lint clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/keywardend ./cmd/keywardend
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/kwctl ./cmd/kwctl
	$(GO) build -o $(BIN)/kwbench ./cmd/kwbench

run: build
	@echo
	@echo "Keywarden starting: https://$(LISTEN)/api/v1 (state in $(DATA_DIR), soft root of trust: DEVELOPMENT ONLY)"
	@echo "In another terminal:"
	@echo "  export KEYWARDEN_URL=https://$(LISTEN)/api/v1"
	@echo "  KEYWARDEN_UNLOCK_PASSPHRASE='my unlock passphrase' KEYWARDEN_ADMIN_PASSPHRASE='my admin passphrase' $(BIN)/kwctl --insecure provision"
	@echo "  KEYWARDEN_USER=admin KEYWARDEN_PASSPHRASE='my admin passphrase' $(BIN)/kwctl --insecure state"
	@echo "  (the README has the five-minute walk-through)"
	@echo
	$(BIN)/keywardend --data-dir $(DATA_DIR) --listen $(LISTEN) --rot soft --clock offset

# test: install what the tests need, then run every test, then short fuzz runs.
test: test-deps build unit fuzz

test-deps:
	@missing=""; for dep in $(TEST_DEPS); do \
		command -v $${dep%%:*} >/dev/null 2>&1 || missing="$$missing $${dep#*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing test dependencies:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
		else \
			echo "missing test dependencies:$$missing — install them (apt-get install$$missing) or run make test as root" >&2; exit 1; \
		fi; \
	fi

unit:
	KEYWARDEN_BIN=$(CURDIR)/$(BIN)/keywardend KWCTL_BIN=$(CURDIR)/$(BIN)/kwctl $(GO) test -count=1 -timeout 20m ./...

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t#*:}; \
		echo "fuzz $$pkg $$fn for $(FUZZTIME)"; \
		GO=$(GO) scripts/fuzz-one $$pkg $$fn $(FUZZTIME) || exit 1; \
	done

bench: build
	$(BIN)/kwbench -daemon $(BIN)/keywardend
	$(GO) test -run '^$$' -bench 'BootToReady' -benchtime 5x ./appliance/e2e
	$(GO) test -run '^$$' -bench 'Seal|Unseal' -benchtime 50x ./rot/tpm
	$(GO) test -run '^$$' -bench 'Seal|Unseal' -benchtime 200x ./rot/pkcs11
	KEYWARDEN_BIN=$(CURDIR)/$(BIN)/keywardend $(GO) test -run '^$$' -bench 'Cluster|Backup' -benchtime 1x -timeout 30m ./appliance/e2e

# chaos: the cluster chaos run of make test (60 s), for longer. CHAOS_TIME=30m make chaos
CHAOS_TIME ?= 10m
chaos: build
	KEYWARDEN_BIN=$(CURDIR)/$(BIN)/keywardend KEYWARDEN_CHAOS_DURATION=$(CHAOS_TIME) $(GO) test -count=1 -v -run '^TestChaos$$' -timeout 3h ./appliance/e2e

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null 2>&1; then staticcheck ./...; else echo "staticcheck not installed; skipped"; fi

clean:
	rm -rf $(BIN)
