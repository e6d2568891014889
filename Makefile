# camserve: `make` builds build/libcamserve.a and build/camserve;
# `make test` runs every suite and ends with "N passed, N failed, N skipped".
CC      ?= gcc
BUILD   ?= build
OPT     ?= -O3
SAN     ?=
EXTRA   ?=
CFLAGS  := -std=c11 $(OPT) -g -Wall -Wextra -Wshadow -Wno-unused-parameter -D_GNU_SOURCE \
           -fno-math-errno -ffp-contract=fast -pthread -Iinclude -Icore $(SAN) $(EXTRA)
LDLIBS  := $(SAN) -lmicrohttpd -lturbojpeg -ljpeg -lpng -lz -lcjson -ldl -lm -pthread
SERVER_LIBS ?=

CORE_SRC   := $(wildcard core/*.c core/ops/*.c)
SERVER_SRC := $(wildcard server/*.c)
TEST_SRC   := $(wildcard tests/test_*.c)

CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

LIB := $(BUILD)/libcamserve.a
BIN := $(BUILD)/camserve
# the server's pieces (everything but main.c) as a library the tests link too
SERVER_LIB_OBJ := $(filter-out $(BUILD)/obj/server/main.o,$(SERVER_OBJ))
SERVER_LIB := $(BUILD)/libcamserver.a

.PHONY: all test asan bench bench-http fuzz deps clean run models stress-overload stress-soak valgrind check-all
all: $(LIB) $(BIN)

# On a fresh machine the first build installs the Debian packages it needs
# (tools/install-deps only calls apt-get for packages that are missing).
$(BUILD)/.deps: tools/install-deps
	@mkdir -p $(dir $@)
	tools/install-deps
	@touch $@

$(BUILD)/obj/%.o: %.c $(wildcard include/*.h core/*.h server/*.h tests/*.h) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# the OpenAPI document is embedded with .incbin (server/openapi.c)
$(BUILD)/obj/server/openapi.o: server/openapi.json

$(LIB): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(SERVER_LIB): $(SERVER_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(BUILD)/obj/server/main.o $(SERVER_LIB) $(LIB)
	$(CC) $(CFLAGS) -o $@ $(BUILD)/obj/server/main.o $(SERVER_LIB) $(LIB) $(SERVER_LIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(SERVER_LIB) $(LIB) $(wildcard tests/*.h tests/fuzz/*.c include/*.h core/*.h server/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iserver -o $@ $< $(SERVER_LIB) $(LIB) $(LDLIBS)

# Tests find ../shared and the installed ONNX test data themselves and skip,
# with the reason, what is absent.  tests/browser/test_browser.sh: the demo
# page in Debian's headless Chromium (npm ci there first if playwright-core is missing).
test: all $(TEST_BIN)
	@CAMSERVE_BIN=$(abspath $(BIN)) tests/run.sh $(TEST_BIN) \
	  CAMSERVE_NO_AVX512=1@$(BUILD)/tests/test_ops_conv CAMSERVE_NO_AVX512=1@$(BUILD)/tests/test_models \
	  CAMSERVE_NO_AVX512=1@$(BUILD)/tests/test_preprocess CAMSERVE_NO_AVX512=1@$(BUILD)/tests/test_render \
	  CAMSERVE_NO_AVX512=1@$(BUILD)/tests/test_jpeg_huff CAMSERVE_NO_AVX512=1@$(BUILD)/tests/test_jpeg_idct \
	  tests/test_deploy.sh tests/browser/test_browser.sh

# AddressSanitizer + UndefinedBehaviorSanitizer build of everything, then the suites.
asan:
	ASAN_OPTIONS=detect_leaks=1 $(MAKE) BUILD=build/asan OPT=-O1 EXTRA=-DCAM_NO_CLONES \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" test

deps:
	tools/install-deps

# Public pretrained classifiers (ONNX model zoo, pinned URLs + sha256) into a
# model repository with generated config.json files: ./models, or MODELS_DIR=.
# Needs internet access (tools/models --help).
MODELS_DIR ?= models
models:
	tools/models --dest $(MODELS_DIR)

# The HTTP service on :8080 (PORT= overrides) with the default model
# repository (../shared/models, else ./models); extra flags in SERVE_FLAGS.
PORT ?= 8080
run: all
	$(BIN) serve --port $(PORT) $(SERVE_FLAGS)

clean:
	rm -rf $(BUILD)

# libFuzzer targets (clang, ASan + UBSan).  New findings land in
# build/fuzz/corpus_<target>; copy crashers into tests/fuzz/corpus/<target>
# so that test_fuzz_replay keeps them fixed.
# All targets run with leak detection.  libmicrohttpd 0.9.75's post processor
# leaks the nested boundary of a multipart/mixed part followed by another one
# (found by fuzz_multipart); server/http_body.c refuses bodies that could
# reach that path (nested multipart/mixed) before the parser sees them.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= onnx image multipart json query render
FUZZ_ARGS ?= -artifact_prefix=build/fuzz/ -print_final_stats=1
FUZZ_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -DCAM_NO_CLONES
fuzz:
	$(MAKE) BUILD=build/fuzz CC=clang OPT=-O1 SAN="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" build/fuzz/libcamserve.a build/fuzz/libcamserver.a
	@set -e; for t in $(FUZZ_TARGETS); do \
	  clang -std=c11 -O1 -g $(FUZZ_FLAGS) -fsanitize=fuzzer -DCAM_LIBFUZZER -D_GNU_SOURCE -Iinclude -Icore -Iserver \
	    tests/fuzz/fuzz_$$t.c build/fuzz/libcamserver.a build/fuzz/libcamserve.a -lmicrohttpd -lturbojpeg -ljpeg -lpng -lz -lcjson -ldl -lm -pthread -o build/fuzz/fuzz_$$t; \
	  mkdir -p build/fuzz/corpus_$$t; \
	  dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
	  echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  ASAN_OPTIONS=detect_leaks=1 build/fuzz/fuzz_$$t -detect_leaks=1 -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=4096 -max_len=65536 $(FUZZ_ARGS) $$dict \
	    build/fuzz/corpus_$$t tests/fuzz/corpus/$$t; \
	done

# camserve vs ONNX Runtime, side by side (see tools/bench.sh for knobs)
bench: all
	tools/bench.sh
	tools/bench-predict.sh

# wrk against a live server: req/s, latency, the ratio to the compute bound
# (three 10 s runs and their median), RSS at start and end
# (tools/bench-http.sh; needs wrk: tools/install-deps --bench)
bench-http: all
	tools/bench-http.sh

# Overload and soak against a live server (issue 7, SECURITY.md), with the load generator
# build/tools/stress-client; tests/test_abuse.c (slowloris, caps, 15 MB uploads) is in make test.
STRESS_CLIENT := $(BUILD)/tools/stress-client
$(STRESS_CLIENT): tools/stress-client.c tests/http_client.h tests/timing.h
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -pthread -o $@ $<
stress-overload: all $(STRESS_CLIENT)
	BIN=$(BIN) CLIENT=$(STRESS_CLIENT) tools/stress-overload.sh
stress-soak: all $(STRESS_CLIENT)
	BIN=$(BIN) CLIENT=$(STRESS_CLIENT) tools/stress-soak.sh

# The HTTP end-to-end suites with every server they start under valgrind memcheck
# (tools/valgrind-serve.sh; valgrind: tools/install-deps --valgrind).  A server with errors or
# definite leaks exits 99 (a failed test); every report in $(BUILD)/valgrind is read here too.
# VALGRIND_SKIP: tests whose timing cannot hold when the server runs 20-50x slower (32 concurrent
# inferences queue for minutes; /readyz is asked 50 ms after SIGTERM, before valgrind has delivered
# it; six uploads must be queued within 20 s; 24 uploads must arrive together to fill a queue of 1,
# but valgrind runs one thread at a time, so the I/O threads read them one by one while the worker
# computes, none is refused and the last ones time out; a request whose client hangs up while it
# waits in the queue must still be waiting when the starved I/O thread notices the hang-up, which
# under valgrind it no longer is); they run in make test and make asan.
VALGRIND_TESTS ?= test_http test_auth
VALGRIND_SKIP ?= concurrent_clients_get_the_sequential_answers,sigterm_drains_in_flight_requests_and_exits_0,$\
  sigterm_past_drain_seconds_answers_queued_503,overload_503_then_healthy,queued_request_of_a_gone_client_is_not_computed
valgrind: all $(VALGRIND_TESTS:%=$(BUILD)/tests/%)
	@command -v valgrind >/dev/null || { echo "valgrind is not installed (tools/install-deps --valgrind)"; exit 1; }
	rm -rf $(BUILD)/valgrind
	CAMSERVE_BIN=$(abspath tools/valgrind-serve.sh) VALGRIND_BIN=$(abspath $(BIN)) CHECK_SKIP=$(VALGRIND_SKIP) HC_TIMEOUT_SCALE=5 \
	  VALGRIND_LOGDIR=$(abspath $(BUILD)/valgrind) tests/run.sh $(VALGRIND_TESTS:%=$(BUILD)/tests/%)
	@n=0; bad=0; for f in $(BUILD)/valgrind/*.log; do n=$$((n + 1)); \
	  if ! grep -q 'ERROR SUMMARY: 0 errors' $$f; then bad=$$((bad + 1)); echo "valgrind: $$f:"; \
	    grep -E 'ERROR SUMMARY|definitely lost|Invalid|uninitialised|Process terminating' $$f | head -n 8; fi; done; \
	  echo "valgrind: $$n server processes, $$bad with errors, leaks or no final report"; [ $$n -gt 0 ] && [ $$bad -eq 0 ]

# Before each release: the suites, the sanitizers, valgrind.
check-all:
	$(MAKE) test
	$(MAKE) asan
	$(MAKE) valgrind
