# The two commands of the README: `make demo` and `make check`.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: deps build demo check test asan-test format format-check bench clean

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTTDM_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Starts ttdm-sim and ttdm on 127.0.0.1 with demo data; Ctrl-C stops both.
demo: build
	@bash scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

asan-test: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTTDM_WERROR=ON -DTTDM_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j$(JOBS)

# Every suite, then the same suites again under AddressSanitizer + UndefinedBehaviorSanitizer.
check: format-check test asan-test

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

format-check: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

bench:
	@bash bench/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# The dashboard: its browser suite alone (Playwright driving Debian's Chromium), and the
# copy of its chart library from the pinned npm package into web/vendor/ (needs npm).
.PHONY: browser-test vendor-web
browser-test: build
	@cd $(BUILD) && ctest --output-on-failure -L browser

vendor-web:
	@bash scripts/vendor-web.sh
