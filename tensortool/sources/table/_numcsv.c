/* A parser for the plain case of a delimited numeric table: ASCII decimals, one delimiter, no
 * quotes, no missing cells, every row complete. It is the fast path of `load-csv` (pyarrow reads
 * everything else, and this parser's every refusal): on 2 cores it parses a 20 MB table in about
 * two thirds of pyarrow's time, and two threads parse two halves with the GIL released.
 *
 * Values are rounded once, exactly as a correctly rounding parser (pyarrow's) rounds them: the
 * common decimal, whose significand and power of ten are exact doubles (at most 15 significant
 * digits, |exponent| <= 22: Clinger's fast path), in two instructions, for float32 output only
 * where going through double cannot round differently (see read_decimal); every other
 * decimal by the C library's correctly rounding strtof/strtod. Any other token stops the parse.
 *
 * parse(data, start, stop, delimiter, kinds, out, capacity, first_row, max_rows) -> rows, or
 * -1 - offset of the token it will not take (or of the row past max_rows).  kinds: one byte per
 * column, 0 skip, 4 float32, 8 float64. out: a writable buffer holding, for each parsed column in
 * order, `capacity` values of its type (column-major); rows are written from `first_row` on.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <locale.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define EXACT (1ULL << 53) /* significands below this are exact doubles */
#define TOKEN_MAX 100  /* longer decimals are left to pyarrow */

/* For float32 output from m·10^e, e >= 0: the product must stay an exact double. */
static uint64_t float32_limit(int exponent) {
    static const uint64_t limits[16] = {
        EXACT, EXACT / 10, EXACT / 100, EXACT / 1000, EXACT / 10000, EXACT / 100000, EXACT / 1000000,
        EXACT / 10000000ULL, EXACT / 100000000ULL, EXACT / 1000000000ULL, EXACT / 10000000000ULL,
        EXACT / 100000000000ULL, EXACT / 1000000000000ULL, EXACT / 10000000000000ULL,
        EXACT / 100000000000000ULL, EXACT / 1000000000000000ULL};
    return exponent < 16 ? limits[exponent] : 0;
}

static const uint64_t POW10_INT[9] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* The value of 8 ASCII digits, the first in the lowest byte (fast_float's method). */
static inline uint64_t eight_digits(uint64_t w) {
    w -= 0x3030303030303030ULL;
    w = w * 10 + (w >> 8);
    return ((w & 0x000000FF000000FFULL) * 0x000F424000000064ULL +
            ((w >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL) >> 32;
}

/* Consumes the run of digits at *pp, appending them to *m, and returns its length. Eight bytes at
 * a time where it can: a branch per digit mispredicts at the end of every run, and the digit
 * runs of a table have every length. (m wraps past 19 digits; the caller counts them.) */
static inline size_t digit_run(const char **pp, const char *end, uint64_t *m) {
    const char *p = *pp;
    size_t total = 0;
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        /* high bit set in each byte that is not a digit; the lowest one is exact (no borrow or
         * carry reaches it from digits below) */
        uint64_t other = ((w + 0x4646464646464646ULL) | (w - 0x3030303030303030ULL)) & 0x8080808080808080ULL;
        unsigned n = other ? (unsigned)__builtin_ctzll(other) >> 3 : 8;
        if (n)  /* left-pad with '0' bytes to eight digits */
            *m = *m * POW10_INT[n] + eight_digits(n == 8 ? w : (w << (8 * (8 - n))) | (0x3030303030303030ULL >> (8 * n)));
        p += n;
        total += n;
        if (n < 8) {
            *pp = p;
            return total;
        }
    }
#endif
    for (; p < end && (unsigned)(*p - '0') < 10; p++, total++) *m = *m * 10 + (uint64_t)(*p - '0');
    *pp = p;
    return total;
}

/* A float32 column followed by a float64 one leaves the latter 4-byte aligned when the capacity
 * is odd: stores go through memcpy (one plain store on x86-64 and ARM64). */
static inline void store(char *dst, int kind, double v) {
    if (kind == 4) {
        float f = (float)v;
        memcpy(dst, &f, sizeof f);
    } else {
        memcpy(dst, &v, sizeof v);
    }
}

/* Reads one decimal at *pp into dst (a float for kind 4, a double for kind 8); 0, or -1 if the
 * token is not a plain decimal.
 *
 * Fast path: d = m·10^e with m < 2^53 and |e| <= 22 is one correctly rounded multiplication or
 * division of two exact doubles. For float32 that double is rounded again, which gives what a
 * direct float32 parse gives when the first rounding cannot land on a float32 rounding midpoint
 * M = k·2^f (k odd, k < 2^25) that d is not on: for e >= 0 the product is kept exact (m·10^e <
 * 2^53); for d = m/10^n, |d - M|/d >= 1/m > 2^-53 when 2^f divides 2^-n, and otherwise
 * >= 1/(k·5^n) >= 1/(2^25·5^12) > 2^-53 for n <= 12, while rounding to double moves d by at most
 * 2^-53 relatively. Every other decimal goes to strtof/strtod, which round correctly (with a "."
 * decimal point: `point_ok`). */
static int read_decimal(const char **pp, const char *end, int kind, char *dst, int point_ok) {
    const char *start = *pp, *p = start;
    int exponent = 0;
    uint64_t m = 0;
    int negative = p < end && *p == '-';
    p += negative;
    size_t count = digit_run(&p, end, &m);
    if (p < end && *p == '.') {
        p++;
        size_t fraction = digit_run(&p, end, &m);
        count += fraction;
        exponent = fraction > 10000 ? -10000 : -(int)fraction;
    }
    if (count == 0) return -1;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int e_negative = 0, e = 0;
        const char *digits = ++p;
        if (p < end && (*p == '-' || *p == '+')) { e_negative = *p == '-'; digits = ++p; }
        for (; p < end && (unsigned)(*p - '0') < 10; p++)
            if (e < 10000) e = e * 10 + (*p - '0');
        if (p == digits) return -1;
        exponent += e_negative ? -e : e;
    }
    int exact = count <= 19 && m < EXACT; /* 19 digits cannot overflow m */
    if (exact && m == 0) exponent = 0;
    if (exact && exponent <= 22 && exponent >= -22 &&
        (kind == 8 || (exponent >= 0 ? m < float32_limit(exponent) : exponent >= -12))) {
        double v = (double)m;
        v = exponent < 0 ? v / POW10[-exponent] : v * POW10[exponent];
        if (negative) v = -v;
        store(dst, kind, v);
    } else {
        /* A NUL-terminated copy: the data may end right after the token (a mapped file). */
        char token[TOKEN_MAX + 1], *stop;
        size_t length = (size_t)(p - start);
        if (!point_ok || length > TOKEN_MAX) return -1;
        memcpy(token, start, length);
        token[length] = 0;
        errno = 0;
        if (kind == 4) {
            float f = strtof(token, &stop);
            memcpy(dst, &f, sizeof f);
        } else {
            double d = strtod(token, &stop);
            memcpy(dst, &d, sizeof d);
        }
        if (stop != token + length || errno) return -1; /* overflow or underflow: pyarrow decides */
    }
    *pp = p;
    return 0;
}

static Py_ssize_t parse_rows(const char *data, Py_ssize_t start, Py_ssize_t stop, char delimiter,
                             const char *kinds, Py_ssize_t columns, char *out, Py_ssize_t capacity,
                             Py_ssize_t first_row, Py_ssize_t stop_row, int point_ok) {
    const char *p = data + start, *end = data + stop;
    Py_ssize_t row = first_row;
    while (p < end) {
        if (*p == '\n') { p++; continue; }                       /* empty lines, as pyarrow */
        if (*p == '\r' && p + 1 < end && p[1] == '\n') { p += 2; continue; }
        if (row >= stop_row) return -1 - (p - data);
        char *column_out = out;
        for (Py_ssize_t c = 0; c < columns; c++) {
            const char *token = p;
            if (kinds[c] == 0) {
                while (p < end && *p != delimiter && *p != '\n' && *p != '\r') p++;
            } else {
                if (read_decimal(&p, end, kinds[c], column_out + row * kinds[c], point_ok))
                    return -1 - (token - data);
                column_out += capacity * kinds[c];
            }
            if (c + 1 < columns) {
                if (p >= end || *p != delimiter) return -1 - (p - data);
                p++;
            }
        }
        if (p < end && *p == '\r') p++;
        if (p < end && *p != '\n') return -1 - (p - data);
        p++;
        row++;
    }
    return row - first_row;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    Py_buffer data, kinds, out;
    Py_ssize_t start, stop, capacity;
    int delimiter;
    Py_ssize_t first_row, max_rows;
    if (!PyArg_ParseTuple(args, "y*nniy*w*nnn", &data, &start, &stop, &delimiter, &kinds, &out, &capacity,
                          &first_row, &max_rows))
        return NULL;
    const char *point = localeconv()->decimal_point;
    int point_ok = point[0] == '.' && point[1] == 0;
    PyObject *result = NULL;
    Py_ssize_t need = 0;
    const char *k = (const char *)kinds.buf;
    for (Py_ssize_t c = 0; c < kinds.len; c++) {
        if (k[c] != 0 && k[c] != 4 && k[c] != 8) { need = -1; break; }
        need += k[c] * capacity;
    }
    if (need < 0 || kinds.len == 0) {
        PyErr_SetString(PyExc_ValueError, "kinds: one byte per column, each 0, 4 or 8");
    } else if (out.len < need) {
        PyErr_SetString(PyExc_ValueError, "out is smaller than the parsed columns x capacity");
    } else if (start < 0 || stop > data.len || start > stop || delimiter < 1 || delimiter > 127 ||
               first_row < 0 || max_rows < 0 || first_row > capacity - max_rows) {
        PyErr_SetString(PyExc_ValueError, "bad range or delimiter");
    } else {
        Py_ssize_t rows;
        Py_BEGIN_ALLOW_THREADS
        rows = parse_rows((const char *)data.buf, start, stop, (char)delimiter, k, kinds.len,
                          (char *)out.buf, capacity, first_row, first_row + max_rows, point_ok);
        Py_END_ALLOW_THREADS
        result = PyLong_FromSsize_t(rows);
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&kinds);
    PyBuffer_Release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS,
     "parse(data, start, stop, delimiter, kinds, out, capacity) -> rows, or -1 - offset of a token it refuses"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_numcsv", NULL, -1, methods};

PyMODINIT_FUNC PyInit__numcsv(void) { return PyModule_Create(&module); }
