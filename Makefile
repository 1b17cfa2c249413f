SHELL := /bin/bash
# ngx_twilio_guard: build against the installed Debian nginx, test, demo.
#
#   make            build build/ngx_http_twilio_guard_module.so
#   make test       run the whole test suite (t/*.t)
#   make demo       start a guarded nginx and show a signed and a forged call

REPO      := $(abspath .)
BUILD     := $(REPO)/build
NGX_SRC   ?= /usr/share/nginx/src
NGINX     ?= /usr/sbin/nginx
MODULE    := $(BUILD)/ngx_http_twilio_guard_module.so
SOURCES   := config $(wildcard ngx_twilio_guard/*.c ngx_twilio_guard/*.h)

export TEST_NGINX_BINARY ?= $(NGINX)
export TEST_NGINX_LOAD_MODULES ?= $(MODULE)

.PHONY: all module deps test demo demo-stop clean

all: module

module: $(MODULE)

deps:
	@util/deps build

# nginx's configure writes into its source tree, so work on a copy
$(BUILD)/nginx/Makefile: config | deps
	rm -rf $(BUILD)/src $(BUILD)/nginx
	mkdir -p $(BUILD)
	cp -r $(NGX_SRC) $(BUILD)/src
	cd $(BUILD)/src && . ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	    --add-dynamic-module=$(REPO) --builddir=$(BUILD)/nginx >/dev/null

$(MODULE): $(BUILD)/nginx/Makefile $(SOURCES)
	cd $(BUILD)/src && $(MAKE) -s -f $(BUILD)/nginx/Makefile modules
	cp $(BUILD)/nginx/ngx_http_twilio_guard_module.so $@

test: module
	@util/deps test
	util/gen-vector-tests --check
	perl util/tnx/run-tests

demo: module
	@util/deps demo
	util/demo

demo-stop:
	util/demo stop

clean:
	rm -rf $(BUILD) t/servroot*
