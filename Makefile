# Garrison build. One Makefile, pkg-config for every dependency.
#   make            release build into build/
#   make SAN=1      ASan+UBSan build into build/san/
#   make check      install deps, build (sanitized), run every test
#   make run        install deps, build, start a Console and a Defender here
.DEFAULT_GOAL := all

PKGS     := openssl sqlite3 jansson yaml-0.1 libcurl libevent libevent_openssl libevent_pthreads libwebsockets rpm libarchive libbpf
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
SAN      ?= 0
ifeq ($(SAN),1)
  B      ?= build/san
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
  B      ?= build
  SANFLAGS :=
endif

CC       ?= cc
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
            -Iinclude $(PKG_CFLAGS) -DGARRISON_VERSION='"$(VERSION)"' -DGARRISON_HAVE_RPM $(SANFLAGS) $(EXTRA_CFLAGS)
ifeq ($(CI),true)
  CFLAGS += -Werror
endif
LDFLAGS  += $(SANFLAGS)
LDLIBS   := $(PKG_LIBS) -lpthread -lm

LIB_SRC  := $(wildcard lib/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
CON_OBJ  := $(patsubst %.c,$(B)/obj/%.o,$(wildcard console/*.c))
# The Console's modules without main(), for unit tests of the store and API helpers.
CON_LIB_OBJ := $(filter-out $(B)/obj/console/main.o,$(CON_OBJ))
DEF_OBJ  := $(patsubst %.c,$(B)/obj/%.o,$(wildcard defender/*.c))
DEF_LIB_OBJ := $(filter-out $(B)/obj/defender/main.o,$(DEF_OBJ))
CLI_OBJ  := $(patsubst %.c,$(B)/obj/%.o,$(wildcard cli/*.c))
UNIT     := $(patsubst tests/unit/%.c,$(B)/tests/%,$(wildcard tests/unit/test_*.c))
TOOLS    := $(patsubst tests/tools/%.c,$(B)/tools/%,$(wildcard tests/tools/*.c))
BENCH    := $(patsubst bench/%.c,$(B)/bench/%,$(wildcard bench/*.c))
# eBPF CO-RE programs: bpf/<family>.bpf.c -> $(B)/bpf/<family>.bpf.o (clang -target bpf) ->
# $(B)/gen/<family>.skel.h (bpftool gen skeleton), included by the Defender's sensor code.
# vmlinux.h is generated from the running kernel's BTF (CO-RE relocates at load time).
BPF_SRC  := $(wildcard bpf/*.bpf.c)
BPF_OBJ  := $(patsubst bpf/%.bpf.c,$(B)/bpf/%.bpf.o,$(BPF_SRC))
BPF_SKEL := $(patsubst bpf/%.bpf.c,$(B)/gen/%.skel.h,$(BPF_SRC))
BPFTOOL  ?= $(shell command -v bpftool || echo /usr/sbin/bpftool)
BPF_CLANG ?= clang
BPF_CFLAGS := -O2 -g -target bpf -D__TARGET_ARCH_x86 -Wall -Wno-unused-parameter -I$(B)/gen -Ibpf
CFLAGS   += -I$(B)/gen
BINS     := $(B)/bin/garrison-console $(B)/bin/garrison-defender $(B)/bin/garrison

.PHONY: all deps check run clean unit integration
# Keep intermediate objects (tests and tools are built from them).
.SECONDARY:
all: $(BINS) $(UNIT) $(TOOLS) $(BENCH)

deps:
	@scripts/install-deps.sh

$(B)/gen/vmlinux.h:
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(B)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) $(B)/gen/vmlinux.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(B)/gen/%.skel.h: $(B)/bpf/%.bpf.o
	@mkdir -p $(dir $@)
	$(BPFTOOL) gen skeleton $< > $@.tmp && mv $@.tmp $@

# The Defender's sources may include any skeleton.
$(DEF_OBJ): $(BPF_SKEL)

$(B)/obj/%.o: %.c $(wildcard include/garrison/*.h) $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/libgarrison.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(B)/libconsole.a: $(CON_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(B)/libdefender.a: $(DEF_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# The Console validates runtime policies and audits with the Defender's own parsers.
CON_DEF_OBJ := $(patsubst %,$(B)/obj/defender/%.o,runtime runtime_host event audit)
$(B)/bin/garrison-console: $(CON_OBJ) $(CON_DEF_OBJ) $(B)/libgarrison.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/garrison-defender: $(DEF_OBJ) $(B)/libgarrison.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bin/garrison: $(CLI_OBJ) $(B)/libgarrison.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(B)/libconsole.a $(B)/libdefender.a $(B)/libgarrison.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/tools/%: $(B)/obj/tests/tools/%.o $(B)/libdefender.a $(B)/libgarrison.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(B)/bench/%: $(B)/obj/bench/%.o $(B)/libgarrison.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# make check: sanitized build, then every suite (tests/run.sh prints the totals).
check: deps
	$(MAKE) SAN=1 all
	$(MAKE) all
	tests/run.sh build/san

# Sub-makes: pkg-config must run after deps has installed the libraries.
run: deps
	$(MAKE) all
	scripts/run-local.sh

clean:
	rm -rf build

# ---- fuzz (begin)
# make fuzz: one libFuzzer binary per tests/fuzz/<target>/fuzz_<target>.c, into build/fuzz/<target>.
# Everything here is built with clang (FUZZ_CC) and ASan+UBSan: the library sources are compiled
# again into build/fuzz/obj/ with coverage instrumentation, never mixed with the gcc objects.
# tests/unit/fuzz_regress.sh builds this and runs each harness; tests/fuzz/README.md says more.
FUZZ_CC      ?= clang
FB           := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  ?= -O1 -g
FUZZ_CFLAGS  += -std=c17 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter \
                -Iinclude -Ilib $(PKG_CFLAGS) -DGARRISON_VERSION='"$(VERSION)"' $(FUZZ_SAN)
ifeq ($(CI),true)
  FUZZ_CFLAGS += -Werror
endif
FUZZ_SRC     := $(wildcard tests/fuzz/*/fuzz_*.c)
FUZZ_BINS    := $(patsubst tests/fuzz/%/,$(FB)/%,$(dir $(FUZZ_SRC)))
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(FB)/obj/%.o)

.PHONY: fuzz
fuzz: $(FUZZ_BINS)

$(FB)/obj/lib/%.o: lib/%.c $(wildcard include/garrison/*.h) $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FB)/libgarrison.a: $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

# A harness is built straight from its one source file; the target is named after its folder.
define FUZZ_HARNESS
$(FB)/$(1): tests/fuzz/$(1)/fuzz_$(1).c $(FB)/libgarrison.a $(wildcard include/garrison/*.h) $(wildcard lib/*.h)
	@mkdir -p $(FB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $$@ $$< $(FB)/libgarrison.a $(LDLIBS)
endef
$(foreach t,$(notdir $(FUZZ_BINS)),$(eval $(call FUZZ_HARNESS,$(t))))
# ---- fuzz (end)

# ---- bench: benchmarks (bench/README.md, docs/benchmarks.md); they print figures, never judge them.
# defender_swarm holds thousands of connections: with libuv it waits with epoll instead of
# poll(2) over every descriptor, leaving the CPU to the Console it measures.
ifeq ($(shell pkg-config --exists libuv && echo yes),yes)
$(B)/obj/bench/defender_swarm.o: CFLAGS += -DSWARM_WITH_LIBUV $(shell pkg-config --cflags libuv)
$(B)/bench/defender_swarm: LDLIBS += $(shell pkg-config --libs libuv)
# sensor_engine runs the Defender's sensor + rules + audit loop: it needs libdefender.
$(B)/bench/sensor_engine: $(B)/obj/bench/sensor_engine.o $(B)/libdefender.a $(B)/libgarrison.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)
endif
.PHONY: bench
bench: $(B)/bin/garrison-console $(B)/bin/garrison-defender $(BENCH)
	bench/console_scale.sh
	bench/defender_idle.sh
# ---- bench (end)
