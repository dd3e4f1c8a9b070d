#!/bin/sh
# Build both C extensions (_numcsv, _pixelsums) with clang, AddressSanitizer and UBSan into
# build/sanitized/tensortool/ -- never over the normal build in tensortool/. The harnesses
# fuzz_csv.py and fuzz_pixelsums.py load these copies and refuse to run without them.
#
# Run the harnesses with atheris' sanitizer runtime preloaded (atheris' README, "Using
# Sanitizers with Native Extensions"); Python itself leaks by design, so leak checks are off:
#
#   sh fuzz/build_sanitized.sh
#   LD_PRELOAD="$(python -c "import atheris; print(atheris.path())")/asan_with_fuzzer.so" \
#     ASAN_OPTIONS=detect_leaks=0,allocator_may_return_null=1 \
#     python fuzz/fuzz_csv.py -max_total_time=600 fuzz/corpus-csv
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
CC="${CC:-clang}"
OUT=build/sanitized/tensortool
INCLUDE="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
SUFFIX="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')"
FLAGS="-g -O1 -fno-omit-frame-pointer -fPIC -shared -fsanitize=address,undefined -fno-sanitize-recover=all -fsanitize=fuzzer-no-link"
mkdir -p "$OUT"
for name in _numcsv _pixelsums; do
    # shellcheck disable=SC2086
    "$CC" $FLAGS -I"$INCLUDE" "tensortool/$name.c" -o "$OUT/$name$SUFFIX"
    echo "built $OUT/$name$SUFFIX"
done
