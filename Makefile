SHELL := /bin/bash
# ngx_twilio_guard: build against the installed Debian nginx, test, demo.
#
#   make            build build/ngx_http_twilio_guard_module.so
#   make test       run the whole test suite (t/*.t)
#   make demo       start a guarded nginx and show a signed and a forged call
#
# and (docs/testing.md, docs/benchmarks.md):
#   make test-asan      the suite against an ASan + UBSan build of nginx
#   make test-valgrind  the suite with nginx under valgrind's memcheck
#   make fuzz           libFuzzer on the pure core, FUZZ_SECONDS per target
#   make stress         reloads under load, body integrity, worker memory
#   make bench          the guard next to nginx, Lua and app validators
#   make deb            the Debian package (build/libnginx-mod-...deb)
#   make test-deb       install it into the system nginx, check, purge it
#   make compat         build and smoke-test against Debian's nginx versions
#   make bench-hostile  forged bodies built to be expensive, per request

REPO      := $(abspath .)
BUILD     := $(REPO)/build
NGX_SRC   ?= /usr/share/nginx/src
NGINX     ?= /usr/sbin/nginx
MODULE    := $(BUILD)/ngx_http_twilio_guard_module.so
SOURCES   := config $(wildcard ngx_twilio_guard/*.c ngx_twilio_guard/*.h)

# compiled and linked as Debian builds nginx and its module packages
# (dpkg-buildflags): optimised, with the stack protector, _FORTIFY_SOURCE
# and full RELRO; nginx's own default would be -O without them
NGX_CC_OPT ?= -g -O2 -fstack-protector-strong -Wformat \
	-Werror=format-security -fPIC -Wdate-time -D_FORTIFY_SOURCE=2
NGX_LD_OPT ?= -Wl,-z,relro -Wl,-z,now -fPIC

export TEST_NGINX_BINARY ?= $(NGINX)
export TEST_NGINX_LOAD_MODULES ?= $(MODULE)

CORE      := ngx_twilio_guard/ngx_twilio_guard_core.c
CORE_DEPS := $(CORE) ngx_twilio_guard/ngx_twilio_guard_core.h
PHONE     := ngx_twilio_guard/ngx_twilio_guard_phone.c
PHONE_DEPS := $(PHONE) ngx_twilio_guard/ngx_twilio_guard_phone.h \
	ngx_twilio_guard/ngx_twilio_guard_phone_table.h
UNIT_TAP  := t/unit/ngx_twilio_tap.h
UNIT_CC   := $(CC) -std=gnu99 -Wall -Wextra -Werror -g -Ingx_twilio_guard
UNIT_SAN  := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all

.PHONY: all module deps unit test test-asan test-valgrind fuzz fuzz-smoke \
	phone-table stress stress-quick bench bench-quick bench-hostile demo demo-stop \
	deb test-deb compat clean

all: module

module: $(MODULE)

deps:
	@util/deps build

# nginx's configure writes into its source tree, so work on a copy
$(BUILD)/nginx/Makefile: config Makefile | deps
	rm -rf $(BUILD)/src $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/src
	cd $(BUILD)/src && . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" \
	    --add-dynamic-module=$(REPO) --builddir=$(BUILD)/nginx >/dev/null

$(MODULE): $(BUILD)/nginx/Makefile $(SOURCES)
	cd $(BUILD)/src && $(MAKE) -s -f $(BUILD)/nginx/Makefile modules
	cp $(BUILD)/nginx/ngx_http_twilio_guard_module.so $@

# the pure core alone, with sanitizers, for unit tests and tools
unit: $(BUILD)/unit/core_test $(BUILD)/unit/core_test_scalar \
	$(BUILD)/unit/core_test_legacy $(BUILD)/unit/ngx_twilio_validate \
	$(BUILD)/unit/phone_test $(BUILD)/unit/phone_test_scalar

$(BUILD)/unit/core_test: t/unit/ngx_twilio_core_test.c $(CORE_DEPS) \
		$(UNIT_TAP) | deps
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_SAN) -o $@ $< $(CORE) -lcrypto

# the same without the SSE2 code paths, as on other CPUs
$(BUILD)/unit/core_test_scalar: t/unit/ngx_twilio_core_test.c $(CORE_DEPS) \
		$(UNIT_TAP) | deps
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_SAN) -DNGX_TWILIO_NO_SIMD -o $@ $< $(CORE) -lcrypto

# the same with HMAC_CTX, the code for OpenSSL before 3.0 (deprecated in 3)
$(BUILD)/unit/core_test_legacy: t/unit/ngx_twilio_core_test.c $(CORE_DEPS) \
		$(UNIT_TAP) | deps
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_SAN) -DNGX_TWILIO_HMAC_LEGACY \
	    -Wno-deprecated-declarations -o $@ $< $(CORE) -lcrypto

$(BUILD)/unit/ngx_twilio_validate: t/unit/ngx_twilio_validate.c $(CORE_DEPS) \
		| deps
	@mkdir -p $(@D)
	$(UNIT_CC) -O2 -o $@ $< $(CORE) -lcrypto

# the SMS pumping guard's pure part (and the oracle test's tool)
$(BUILD)/unit/phone_test: t/unit/ngx_twilio_phone_test.c $(PHONE_DEPS) \
		$(UNIT_TAP) | deps
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_SAN) -o $@ $< $(PHONE)

# the same without the SSE2 code paths, as on other CPUs
$(BUILD)/unit/phone_test_scalar: t/unit/ngx_twilio_phone_test.c \
		$(PHONE_DEPS) $(UNIT_TAP) | deps
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_SAN) -DNGX_TWILIO_NO_SIMD -o $@ $< $(PHONE)

# the phone table from python3-phonenumbers (util/gen-phone-table)
phone-table:
	util/gen-phone-table

test: module unit
	@util/deps test
	util/gen-vector-tests --check
	perl util/tnx/run-tests

# the suite with nginx under valgrind's memcheck (single process, slow);
# VALGRIND_TESTS narrows it, e.g. VALGRIND_TESTS=t/020-basic.t
VALGRIND_TESTS ?=

test-valgrind: module unit
	@util/deps test
	@command -v valgrind >/dev/null || util/deps valgrind
	TEST_NGINX_USE_VALGRIND=1 perl util/tnx/run-tests $(VALGRIND_TESTS)

# the suite against nginx built from Debian's source with ASan + UBSan
# (util/asan/run: installs clang, fetches the source, builds in build/asan)
test-asan:
	util/asan/run

# libFuzzer targets of the pure core (util/fuzz/); FUZZ_SECONDS each
FUZZ_SECONDS ?= 60

fuzz:
	@util/deps fuzz
	FUZZ_SECONDS=$(FUZZ_SECONDS) util/fuzz/run

fuzz-smoke:
	@util/deps fuzz
	util/fuzz/run --smoke

# load with reloads, body integrity at scale, worker memory (util/stress/)
stress: module
	@util/deps stress
	util/stress/run-all

stress-quick: module
	@util/deps stress
	STRESS_QUICK=1 util/stress/run-all

# throughput and latency next to a plain proxy, return 403, a Lua
# validator, Express and gunicorn apps; callgrind figures of the core
bench:
	util/bench/run

bench-quick:
	BENCH_QUICK=1 util/bench/run

# forged bodies built to be expensive next to a typical form, callgrind
# (about a minute; util/bench/hostile)
bench-hostile:
	util/bench/hostile

demo: module
	@util/deps demo
	util/demo

demo-stop:
	util/demo stop

# the Debian package, built with debhelper's nginx sequence in build/deb/
# (util/deb/build), and its check with the system nginx (util/deb/test)
deb:
	@util/deps deb
	util/deb/build

test-deb: deb
	@util/deps test
	util/deb/test

# the module built (dynamic and static) against the nginx sources of
# Debian's bookworm, trixie and sid, each smoke-tested (util/compat/run)
compat:
	@util/deps demo
	util/compat/run

clean:
	rm -rf $(BUILD) t/servroot*
