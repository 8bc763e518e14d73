# Shorthands for the scripts; the scripts are the source of truth.
.PHONY: up test build generate-proto bench bench-peers

up:
	scripts/up.sh

test:
	scripts/test.sh

build:
	swift build -c release

generate-proto:
	scripts/generate-proto.sh

bench:
	Benchmarks/run.sh

bench-peers:
	Benchmarks/peers.sh
