/* Exact per-channel pixel sums in one pass: the inner loop of `tensortool stats`.
 *
 * numpy and torch need four or more passes (widen, square, two sums, min, max) with a
 * temporary each; this loop does them together over the image's own H×W×C memory, so the
 * statistics cost a few percent of decoding a JPEG instead of half of it (5.3 µs against
 * ~200 µs for 256x256 RGB with AVX2; the read from memory, ~10 µs, is the larger part when
 * the decoder left the pixels in memory rather than cache, see evict()). The GIL is released.
 *
 * add(image, state, evict=False) -> H·W: image is a C×H×W buffer of uint8 or uint16 (any
 * strides; fastest as the decoders give it, a view of H×W×C memory); state a writable uint64
 * buffer of 4 × C: sums, sums of squares, minima, maxima, updated in place.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__) && !defined(__clang__)
#define VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VECTOR_CLONES
#endif

#define MAX_CHANNELS 4
#define LANES (MAX_CHANNELS * 32) /* a row: a multiple of the channel count and of 32 bytes */

/* Drop the image's lines from the caches once summed (evict=True). libjpeg-turbo's SIMD colour
 * conversion writes the decoded rows with non-temporal stores, straight to memory, and the next
 * image is decoded into the same freed buffer: its non-temporal stores onto the lines our pass
 * brought into the cache cost ~20 µs per 256x256 RGB image, the flush ~5 µs. After ordinary
 * stores (PNG) the flush only adds work, so the caller asks for it per image. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HAVE_CLFLUSHOPT 1
#include <cpuid.h>
static int use_clflushopt; /* unordered flushes: about 1 µs less per 256x256 RGB image */

__attribute__((target("clflushopt"))) static void evict_unordered(const char *x, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 64) _mm_clflushopt((void *)(x + i));
    _mm_clflushopt((void *)(x + bytes - 1));
}
#endif

static void evict(const char *x, size_t bytes) {
    if (!bytes)
        return;
#ifdef HAVE_CLFLUSHOPT
    if (use_clflushopt) {
        evict_unordered(x, bytes);
        return;
    }
#endif
#if defined(__x86_64__) || defined(_M_X64)
    for (size_t i = 0; i < bytes; i += 64) _mm_clflush(x + i);
    _mm_clflush(x + bytes - 1);
#else
    (void)x;
#endif
}

/* The last values, fewer than a row: one at a time. */
static void sums_tail(const void *x, int item, size_t from, size_t n, int channels, uint64_t *state) {
    for (size_t i = from; i < n; i++) {
        uint64_t v = item == 1 ? ((const uint8_t *)x)[i] : ((const uint16_t *)x)[i];
        int c = (int)(i % channels);
        state[c] += v;
        state[channels + c] += v * v;
        if (v < state[2 * channels + c]) state[2 * channels + c] = v;
        if (v > state[3 * channels + c]) state[3 * channels + c] = v;
    }
}

/* Each lane sums 256 rows in 16 bits (256 · 255 < 2^16; a square, 255², fits too), then adds
 * into 32-bit lanes that are emptied every 65536 rows (65536 · 255² < 2^32). The portable loop;
 * x86-64 CPUs with AVX2 take the one below. */
static void sums_u8_generic(const uint8_t *x, size_t n, int channels, uint64_t *state) {
    const size_t row = (size_t)channels * 32, rows = n / row;
    uint16_t s16[LANES];
    uint32_t s[LANES], q[LANES];
    uint8_t lo[LANES], hi[LANES];
    uint64_t *sum = state, *sq = state + channels, *mn = state + 2 * channels, *mx = state + 3 * channels;
    for (size_t j = 0; j < row; j++) { lo[j] = 255; hi[j] = 0; s[j] = 0; q[j] = 0; }
    for (size_t r = 0; r < rows;) {
        size_t stop = rows - r > 256 ? r + 256 : rows;
        for (size_t j = 0; j < row; j++) s16[j] = 0;
        for (; r < stop; r++) {
            const uint8_t *p = x + r * row;
            for (size_t j = 0; j < row; j++) {
                uint16_t v = p[j];
                s16[j] += v;
                q[j] += (uint16_t)(v * v);
                lo[j] = lo[j] < p[j] ? lo[j] : p[j];
                hi[j] = hi[j] > p[j] ? hi[j] : p[j];
            }
        }
        for (size_t j = 0; j < row; j++) s[j] += s16[j];
        if (r % 65536 == 0 || r == rows) {
            for (size_t j = 0; j < row; j++) {
                sum[j % channels] += s[j]; sq[j % channels] += q[j];
                s[j] = 0; q[j] = 0;
            }
        }
    }
    for (size_t j = 0; rows && j < row; j++) {
        if (lo[j] < mn[j % channels]) mn[j % channels] = lo[j];
        if (hi[j] > mx[j % channels]) mx[j % channels] = hi[j];
    }
    sums_tail(x, 1, rows * row, n, channels, state);
}


#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_AVX2_KERNEL 1

/* Where the lanes of the vectors below come from, as byte offsets in a 32-byte block:
 * unpack{lo,hi}_epi8 and unpack{lo,hi}_epi16 work within each 128-bit half. */
static int from16(int hi8, int k) { return (k & 8 ? 16 : 0) + (hi8 ? 8 : 0) + (k & 7); }
static int from32(int hi8, int hi16, int m) { return (m & 4 ? 16 : 0) + (hi8 ? 8 : 0) + (hi16 ? 4 : 0) + (m & 3); }

/* One 32-byte column of every row (a row being 32 · channels bytes, so each byte of the column
 * keeps its channel), two rows at a time: the two rows' values of one byte sit side by side in
 * 16-bit lanes, so madd squares and adds them without mixing channels. 24 instructions per
 * 64 bytes, all accumulators in registers: 5.7 µs for a 256x256 RGB image (gcc's vectorisation
 * of the loop above: 8.7 µs). 16-bit sums for 128 row pairs (128 · 510 < 2^16), 32-bit squares
 * for 128 pairs (flushed with them), 64-bit state. */
__attribute__((target("avx2")))
static void column_avx2(const uint8_t *x, size_t pairs, size_t row, int channels, int j, uint64_t *state) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i lo = _mm256_set1_epi8((char)0xff), hi = zero;
    uint64_t sum[32] = {0}, sq[32] = {0};
    const uint8_t *p = x + 32 * (size_t)j;
    for (size_t done = 0; done < pairs;) {
        size_t stop = pairs - done > 128 ? done + 128 : pairs;
        __m256i s0 = zero, s1 = zero, q0 = zero, q1 = zero, q2 = zero, q3 = zero;
        for (; done < stop; done++) {
            __m256i a = _mm256_loadu_si256((const __m256i *)(p + 2 * done * row));
            __m256i b = _mm256_loadu_si256((const __m256i *)(p + (2 * done + 1) * row));
            lo = _mm256_min_epu8(lo, _mm256_min_epu8(a, b));
            hi = _mm256_max_epu8(hi, _mm256_max_epu8(a, b));
            __m256i al = _mm256_unpacklo_epi8(a, zero), ah = _mm256_unpackhi_epi8(a, zero);
            __m256i bl = _mm256_unpacklo_epi8(b, zero), bh = _mm256_unpackhi_epi8(b, zero);
            s0 = _mm256_add_epi16(s0, _mm256_add_epi16(al, bl));
            s1 = _mm256_add_epi16(s1, _mm256_add_epi16(ah, bh));
            __m256i t0 = _mm256_unpacklo_epi16(al, bl), t1 = _mm256_unpackhi_epi16(al, bl);
            __m256i t2 = _mm256_unpacklo_epi16(ah, bh), t3 = _mm256_unpackhi_epi16(ah, bh);
            q0 = _mm256_add_epi32(q0, _mm256_madd_epi16(t0, t0));
            q1 = _mm256_add_epi32(q1, _mm256_madd_epi16(t1, t1));
            q2 = _mm256_add_epi32(q2, _mm256_madd_epi16(t2, t2));
            q3 = _mm256_add_epi32(q3, _mm256_madd_epi16(t3, t3));
        }
        uint16_t s16[2][16];
        uint32_t q32[4][8];
        _mm256_storeu_si256((__m256i *)s16[0], s0);
        _mm256_storeu_si256((__m256i *)s16[1], s1);
        _mm256_storeu_si256((__m256i *)q32[0], q0);
        _mm256_storeu_si256((__m256i *)q32[1], q1);
        _mm256_storeu_si256((__m256i *)q32[2], q2);
        _mm256_storeu_si256((__m256i *)q32[3], q3);
        for (int k = 0; k < 16; k++) { sum[from16(0, k)] += s16[0][k]; sum[from16(1, k)] += s16[1][k]; }
        for (int m = 0; m < 8; m++) {
            sq[from32(0, 0, m)] += q32[0][m]; sq[from32(0, 1, m)] += q32[1][m];
            sq[from32(1, 0, m)] += q32[2][m]; sq[from32(1, 1, m)] += q32[3][m];
        }
    }
    uint8_t lo8[32], hi8[32];
    _mm256_storeu_si256((__m256i *)lo8, lo);
    _mm256_storeu_si256((__m256i *)hi8, hi);
    for (int k = 0; k < 32 && pairs; k++) {
        int c = (32 * j + k) % channels;
        state[c] += sum[k];
        state[channels + c] += sq[k];
        if (lo8[k] < state[2 * channels + c]) state[2 * channels + c] = lo8[k];
        if (hi8[k] > state[3 * channels + c]) state[3 * channels + c] = hi8[k];
    }
}

static void sums_u8_avx2(const uint8_t *x, size_t n, int channels, uint64_t *state) {
    const size_t row = (size_t)channels * 32, pairs = n / row / 2;
    for (int j = 0; j < channels; j++)
        column_avx2(x, pairs, row, channels, j, state);
    sums_tail(x, 1, pairs * 2 * row, n, channels, state);
}
#endif

static int use_avx2; /* set at import where the CPU has it; set_avx2() switches for tests */

static void sums_u8(const uint8_t *x, size_t n, int channels, uint64_t *state) {
#ifdef HAVE_AVX2_KERNEL
    if (use_avx2) {
        sums_u8_avx2(x, n, channels, state);
        return;
    }
#endif
    sums_u8_generic(x, n, channels, state);
}

/* uint16: squares need 64-bit lanes from the start. */
VECTOR_CLONES
static void sums_u16(const uint16_t *x, size_t n, int channels, uint64_t *state) {
    const size_t row = (size_t)channels * 16, rows = n / row;
    uint64_t s[LANES] = {0}, q[LANES] = {0};
    uint16_t lo[LANES], hi[LANES];
    uint64_t *sum = state, *sq = state + channels, *mn = state + 2 * channels, *mx = state + 3 * channels;
    for (size_t j = 0; j < row; j++) { lo[j] = 65535; hi[j] = 0; }
    for (size_t r = 0; r < rows; r++) {
        const uint16_t *p = x + r * row;
        for (size_t j = 0; j < row; j++) {
            uint64_t v = p[j];
            s[j] += v;
            q[j] += v * v;
            lo[j] = lo[j] < p[j] ? lo[j] : p[j];
            hi[j] = hi[j] > p[j] ? hi[j] : p[j];
        }
    }
    for (size_t j = 0; rows && j < row; j++) {
        sum[j % channels] += s[j]; sq[j % channels] += q[j];
        if (lo[j] < mn[j % channels]) mn[j % channels] = lo[j];
        if (hi[j] > mx[j % channels]) mx[j % channels] = hi[j];
    }
    sums_tail(x, 2, rows * row, n, channels, state);
}

/* Any other layout (rare: a tensor a transform made contiguous as C×H×W, or a strided view):
 * one channel at a time, row by row. Contiguous rows of one channel take the vector loop. */
static void sums_strided(const char *x, int item, Py_ssize_t channels, const Py_ssize_t *shape,
                         const Py_ssize_t *strides, uint64_t *state) {
    for (Py_ssize_t c = 0; c < channels; c++) {
        uint64_t one[4] = {0, 0, item == 1 ? 255 : 65535, 0};
        for (Py_ssize_t h = 0; h < shape[1]; h++) {
            const char *row = x + c * strides[0] + h * strides[1];
            if (strides[2] == item) {
                if (item == 1) sums_u8((const uint8_t *)row, (size_t)shape[2], 1, one);
                else sums_u16((const uint16_t *)row, (size_t)shape[2], 1, one);
            } else {
                for (Py_ssize_t w = 0; w < shape[2]; w++)
                    sums_tail(row + w * strides[2], item, 0, 1, 1, one);
            }
        }
        state[c] += one[0];
        state[channels + c] += one[1];
        if (one[2] < state[2 * channels + c]) state[2 * channels + c] = one[2];
        if (one[3] > state[3 * channels + c]) state[3 * channels + c] = one[3];
    }
}

static PyObject *add(PyObject *self, PyObject *args) {
    PyObject *image_obj, *state_obj;
    int evicting = 0;
    if (!PyArg_ParseTuple(args, "OO|p", &image_obj, &state_obj, &evicting))
        return NULL;
    Py_buffer image, state;
    if (PyObject_GetBuffer(image_obj, &image, PyBUF_RECORDS_RO) < 0)
        return NULL;
    if (PyObject_GetBuffer(state_obj, &state, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(&image);
        return NULL;
    }
    PyObject *result = NULL;
    const char *format = image.format ? image.format : "B";
    if (format[0] == '=' || format[0] == '<' || format[0] == '@') format++;
    int item = strcmp(format, "B") == 0 ? 1 : strcmp(format, "H") == 0 ? 2 : 0;
    if (image.ndim != 3 || item == 0 || image.itemsize != item) {
        PyErr_SetString(PyExc_ValueError, "image: a C x H x W array of uint8 or uint16");
    } else if (image.shape[0] < 1 || image.shape[0] > MAX_CHANNELS) {
        PyErr_Format(PyExc_ValueError, "image: 1..%d channels", MAX_CHANNELS);
    } else if (state.len != (Py_ssize_t)(4 * image.shape[0] * sizeof(uint64_t))) {
        PyErr_SetString(PyExc_ValueError, "state: 4 x channels uint64");
    } else if (item == 2 && (uint64_t)image.shape[1] * (uint64_t)image.shape[2] > UINT64_MAX / (65535ull * 65535) / 2) {
        /* The caller empties the state once it holds more than half its capacity (PixelSums). */
        PyErr_SetString(PyExc_OverflowError, "image: over 2^31 pixels of 16 bits, more than one call can sum exactly");
    } else {
        const Py_ssize_t c = image.shape[0], h = image.shape[1], w = image.shape[2];
        const Py_ssize_t *st = image.strides;
        /* Decoders give a C×H×W view of H×W×C memory: then it is one flat run of pixels. */
        int interleaved = (c == 1 || st[0] == item) && (w == 1 || st[2] == c * item)
                          && (h == 1 || st[1] == w * c * item);
        Py_BEGIN_ALLOW_THREADS
        if (interleaved && item == 1)
            sums_u8((const uint8_t *)image.buf, (size_t)(c * h * w), (int)c, (uint64_t *)state.buf);
        else if (interleaved)
            sums_u16((const uint16_t *)image.buf, (size_t)(c * h * w), (int)c, (uint64_t *)state.buf);
        else
            sums_strided((const char *)image.buf, item, c, image.shape, st, (uint64_t *)state.buf);
        if (interleaved && evicting)
            evict((const char *)image.buf, (size_t)(c * h * w * item));
        Py_END_ALLOW_THREADS
        result = PyLong_FromSsize_t(h * w);
    }
    PyBuffer_Release(&image);
    PyBuffer_Release(&state);
    return result;
}

static PyObject *set_avx2(PyObject *self, PyObject *arg) {
    int on = PyObject_IsTrue(arg);
    if (on < 0)
        return NULL;
#ifdef HAVE_AVX2_KERNEL
    use_avx2 = on && __builtin_cpu_supports("avx2");
#endif
    return PyBool_FromLong(use_avx2);
}

static PyMethodDef methods[] = {
    {"add", add, METH_VARARGS, "add(image, state, evict=False) -> pixels: exact per-channel sums of a C x H x W array, in place."},
    {"set_avx2", set_avx2, METH_O, "set_avx2(on) -> whether the AVX2 loop is now used (for tests; on by default where the CPU has it)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_pixelsums", NULL, -1, methods};

PyMODINIT_FUNC PyInit__pixelsums(void) {
#if defined(HAVE_AVX2_KERNEL) || defined(HAVE_CLFLUSHOPT)
    __builtin_cpu_init();
#endif
#ifdef HAVE_AVX2_KERNEL
    use_avx2 = __builtin_cpu_supports("avx2");
#endif
#ifdef HAVE_CLFLUSHOPT
    unsigned int a, b, c, d; /* CPUID leaf 7, EBX bit 23 (older gcc's cpu_supports lacks the name) */
    use_clflushopt = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b >> 23 & 1);
#endif
    return PyModule_Create(&module);
}
