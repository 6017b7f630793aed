# Provost. `make run` serves with the demo data; `make test` is what CI runs.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
PACKS     := openedx oppia

.PHONY: build run test vet gotest policytest opatest fuzz bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/provost ./cmd/provost

# The demo's admin token is dev-admin-token unless PROVOST_ADMIN_TOKEN is set.
run: build
	PROVOST_ADMIN_TOKEN="$${PROVOST_ADMIN_TOKEN:-dev-admin-token}" ./$(BIN)/provost serve --demo

# Everything CI runs: vet, every Go test (with the race detector on the
# concurrent packages), the packs' Rego tests through provost and stock OPA.
test: vet gotest policytest opatest

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)

gotest:
	$(GO) test -count=1 ./...
	PROVOST_LONG_TESTS=1 $(GO) test -count=1 -run TestImportMillionRows ./internal/importer/
	$(GO) test -count=1 -race ./internal/roles/ ./internal/engine/ ./internal/server/

policytest: build
	./$(BIN)/provost policy test

opatest:
	@for p in $(PACKS); do echo "opa test rego/$$p"; $(GO) tool opa test rego/$$p || exit 1; done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./internal/engine/ | tee bench.txt

clean:
	rm -rf $(BIN) bench.txt
