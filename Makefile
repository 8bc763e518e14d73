# Shorthands for the scripts; the scripts are the source of truth.
.PHONY: up test test-faults build generate-proto bench bench-peers

up:
	scripts/up.sh

test:
	scripts/test.sh

test-faults:
	scripts/test-faults.sh

build:
	swift build -c release

generate-proto:
	scripts/generate-proto.sh

bench:
	Benchmarks/run.sh

bench-peers:
	Benchmarks/peers.sh

fuzz:
	Fuzz/run.sh

check-deploy:
	swift test --filter DeployChecksTests
