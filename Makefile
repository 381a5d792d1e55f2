# psmtap — the two commands a new user needs are `make run` and `make test`.
GO      ?= go
BIN     := psmtap
PCAPS   := pcaps
BENCH_PCAP ?= bench/bench.pcap

.PHONY: build run test fuzz bench bench-pcap vet clean golden edge-pcaps

build:
	$(GO) build -o $(BIN) ./cmd/psmtap

# Read the bundled captures and print one line per session.
run: build
	./$(BIN) read --format table --events --rules builtin $(PCAPS)/*.pcap

# Every test: unit, golden, interop (../shared/pcaps when present), short fuzz seeds.
test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

# Run each fuzz target for FUZZTIME (default 10m).
FUZZTIME ?= 10m
fuzz:
	./internal/tools/fuzzall.sh $(FUZZTIME)

# Generate the benchmark capture (>= 1 GB) once, then run the benchmarks: the
# whole read path three times over it (the first pass also warms the page
# cache), without and with activity events (--events), with about 100 Sigma
# rules on the events and records (--rules), and without SSH, then the
# per-component benchmarks. On a shared machine compare pinned runs
# (GOMAXPROCS=1 taskset -c N) and their cpu-s/pass: docs/PERFORMANCE.md.
bench-pcap: $(BENCH_PCAP)
$(BENCH_PCAP):
	mkdir -p $(dir $(BENCH_PCAP))
	$(GO) run ./internal/tools/pcaptool bench -in $(PCAPS) -out $(BENCH_PCAP) -size 1GB -flows 30000 -seed 1

bench: $(BENCH_PCAP)
	PSMTAP_BENCH_PCAP=$(abspath $(BENCH_PCAP)) $(GO) test -run '^$$' -bench '^BenchmarkRead(WithEvents|WithRules|WithoutSSH)?$$' -benchmem -benchtime 3x ./internal/engine/
	$(GO) test -run '^$$' -bench . -benchmem ./capture/... ./dissectors/... ./internal/rfb/...

vet:
	$(GO) vet ./...

clean:
	rm -f $(BIN)

# Rewrite the golden records of pcaps/ after a deliberate change; review the diff.
golden:
	$(GO) test ./cmd/psmtap/ -run TestGolden -update

# Remake the edge-case captures in pcaps/edge/ from the real ones (reordering,
# retransmissions, a gap, mid-stream pickup, IPv4 fragments, VLAN/QinQ, IPv6,
# SLL2, raw IP, a truncated file).
edge-pcaps:
	$(GO) run ./internal/tools/pcaptool edge -out pcaps/edge -in pcaps/telnet-login.pcap pcaps/ssh-password-interactive.pcap
	# picked up after the login, from the first command on: no option negotiation left
	$(GO) run ./internal/tools/pcaptool cut -in pcaps/telnet-login.pcap -out pcaps/edge/telnet-midstream-noiac.pcap -from 121
	# VNC: the server's packet 55 (the screen's answer to id) lost; a client packet lost (edge's gap: the busier direction); the file cut half way
	$(GO) run ./internal/tools/pcaptool cut -in pcaps/vnc-vncauth.pcap -out pcaps/edge/vnc-vncauth-server-gap.pcap -drop 55
	$(GO) run ./internal/tools/pcaptool edge -only gap,truncate -in pcaps/vnc-vncauth.pcap -out pcaps/edge
