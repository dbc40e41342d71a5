#!/usr/bin/env bash
# Profile-guided release build of the gateway binary (`make pgo`): GCC instruments a build, the
# instrumented gateway serves bench/pgo_train.py's traffic mix, and the same build directory is
# rebuilt with the recorded profile (-fprofile-use) and link-time optimisation. GCC then knows
# which branches and functions the request path takes: it lays the hot blocks of each function
# together and moves the cold ones (errors, logging, rare protocol cases) into .text.unlikely, so
# the per-request path touches fewer instruction-cache lines (docs/benchmarks.md, "Seventh
# round").
#
#   scripts/build-pgo.sh [BUILD_DIR]      (default build-pgo; the binary is BUILD_DIR/turnpike)
#
# Only the gateway binary is built; tests run on the ordinary build (`make test`), which has the
# same code. Takes two compiles of the gateway (about 15 minutes on 2 cores with a warm ccache, 30
# without) and a minute of training.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-build-pgo}
case $DIR in /*) ;; *) DIR=$ROOT/$DIR ;; esac
JOBS=${JOBS:-$(nproc)}
"$ROOT/scripts/install-deps.sh" bench

configure() {
  cmake -S "$ROOT" -B "$DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTURNPIKE_TESTS=OFF \
    -DTURNPIKE_BENCH=OFF "-DCMAKE_CXX_FLAGS=$1" "-DCMAKE_EXE_LINKER_FLAGS=$2" \
    -DCMAKE_AR=/usr/bin/gcc-ar -DCMAKE_RANLIB=/usr/bin/gcc-ranlib >/dev/null
}

# 1. Instrumented build. The gateway's workers are threads: counters are updated atomically.
find "$DIR" -name '*.gcda' -delete 2>/dev/null || true
configure "-fprofile-generate -fprofile-update=atomic" "-fprofile-generate"
cmake --build "$DIR" -j "$JOBS" --target turnpike

# 2. Training: the profile is written when the gateway exits.
/usr/bin/python3 "$ROOT/bench/pgo_train.py" "$DIR/turnpike"
count=$(find "$DIR" -name '*.gcda' | wc -l)
if [ "$count" -eq 0 ]; then
  echo "build-pgo: the training run wrote no profile" >&2
  exit 1
fi
echo "build-pgo: profile of $count translation units"

# 3. Optimised build from the profile, with link-time optimisation: across modules, GCC inlines
# and lays out the request path as one program (the static libraries hold GCC's intermediate
# code, hence gcc-ar). Code the training never ran keeps its ordinary optimisation
# (-fprofile-partial-training) instead of being optimised for size.
configure "-fprofile-use -fprofile-partial-training -Wno-missing-profile -flto=auto -fno-fat-lto-objects" \
  "-flto=auto"
cmake --build "$DIR" -j "$JOBS" --target turnpike
echo "build-pgo: $DIR/turnpike"
