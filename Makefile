# corral: `make` builds, `make check` runs every test (`make check-long` the long kill tests), `make bench` the benchmarks,
# `make demo` brings up corrald with a Linux VM (`make demo-stop` ends it).
# Meson + Ninja do the work; this file only wires them to the usual targets.
BUILD ?= build
FUZZ_BUILD ?= build-fuzz

.PHONY: all deps web check check-long bench fuzz clean run-guest demo demo-stop

all: deps $(BUILD)/build.ninja web
	ninja -C $(BUILD)

# The web console (web/dist), bundled with npm when node is installed.
web:
	@scripts/build-web.sh

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true

fuzz: deps $(FUZZ_BUILD)/build.ninja
	ninja -C $(FUZZ_BUILD)

check: all fuzz
	@scripts/check.sh $(BUILD) $(FUZZ_BUILD)

# The long variants: 320 writer kills and 324 kills of corral-img's metadata commands.
check-long: all
	@CHECK_ONLY="crash crash-ops" CRASH_ITERS=320 CRASH_OPS_ITERS=12 \
		scripts/check.sh $(BUILD) $(FUZZ_BUILD)

# Boots Debian's Linux under corral-vmm (nested when the host has no VT-x/AMD-V).
run-guest: all
	@scripts/run-guest.sh $(BUILD)

# corral's main job: corrald with a Linux VM you can reach (scripts/demo.sh).
demo: all
	@scripts/demo.sh $(BUILD)

demo-stop:
	@scripts/demo.sh --stop $(BUILD)

bench: all
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)
