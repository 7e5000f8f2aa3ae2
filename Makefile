# impetus — build, run and test. The sqlite_fts5 tag builds SQLite with full-text search.
GO      ?= go
TAGS    := sqlite_fts5
BIN     := bin/impetus
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test bench e2e lint install clean

build:
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) .

# run opens impetus with its defaults (the full-screen chat).
run: build
	./$(BIN)

# test is what CI runs: vet, then every test with the race detector.
test:
	$(GO) vet -tags $(TAGS) ./...
	$(GO) test -race -tags $(TAGS) -timeout 9m ./...

# bench runs the Go benchmarks (no tests); BENCH narrows them, e.g. make bench BENCH=Decode.
BENCH ?= .
bench:
	$(GO) test -tags $(TAGS) -run '^$$' -bench '$(BENCH)' -benchmem -timeout 60m ./...

# e2e runs the slow end-to-end tests (real binary under tmux, headless Chromium, npm clients).
e2e:
	IMPETUS_E2E=1 $(GO) test -tags $(TAGS) -timeout 30m -run 'E2E' ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...

install:
	$(GO) install -tags $(TAGS) -ldflags "$(LDFLAGS)" .

clean:
	rm -rf bin
