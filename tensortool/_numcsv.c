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
 * parse(data, start, stop, delimiter, kinds, out, capacity) -> rows, or -1 - offset of the token
 * it will not take.  kinds: one byte per column, 0 skip, 4 float32, 8 float64. out: a writable
 * buffer holding, for each parsed column in order, `capacity` values of its type (column-major).
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

/* For float32 output from m·10^e, e >= 0: the product must stay an exact double. */
static uint64_t float32_limit(int exponent) {
    static const uint64_t limits[16] = {
        EXACT, EXACT / 10, EXACT / 100, EXACT / 1000, EXACT / 10000, EXACT / 100000, EXACT / 1000000,
        EXACT / 10000000ULL, EXACT / 100000000ULL, EXACT / 1000000000ULL, EXACT / 10000000000ULL,
        EXACT / 100000000000ULL, EXACT / 1000000000000ULL, EXACT / 10000000000000ULL,
        EXACT / 100000000000000ULL, EXACT / 1000000000000000ULL};
    return exponent < 16 ? limits[exponent] : 0;
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
    int negative = 0, exponent = 0;
    uint64_t m = 0;
    if (p < end && *p == '-') { negative = 1; p++; }
    const char *integer = p;
    for (; p < end && (unsigned)(*p - '0') < 10; p++) m = m * 10 + (uint64_t)(*p - '0');
    size_t count = (size_t)(p - integer);
    if (p < end && *p == '.') {
        const char *fraction = ++p;
        for (; p < end && (unsigned)(*p - '0') < 10; p++) m = m * 10 + (uint64_t)(*p - '0');
        count += (size_t)(p - fraction);
        exponent = (p - fraction) > 10000 ? -10000 : -(int)(p - fraction);
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
        if (kind == 4) *(float *)dst = (float)v;
        else *(double *)dst = v;
    } else {
        char *stop;
        if (!point_ok) return -1;
        errno = 0;
        if (kind == 4) *(float *)dst = strtof(start, &stop);
        else *(double *)dst = strtod(start, &stop);
        if (stop != p || errno) return -1; /* overflow or underflow: pyarrow decides */
    }
    *pp = p;
    return 0;
}

static Py_ssize_t parse_rows(const char *data, Py_ssize_t start, Py_ssize_t stop, char delimiter,
                             const char *kinds, Py_ssize_t columns, char *out, Py_ssize_t capacity,
                             int point_ok) {
    const char *p = data + start, *end = data + stop;
    Py_ssize_t row = 0;
    while (p < end) {
        if (*p == '\n') { p++; continue; }                       /* empty lines, as pyarrow */
        if (*p == '\r' && p + 1 < end && p[1] == '\n') { p += 2; continue; }
        if (row >= capacity) return -1 - (p - data);
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
    return row;
}

static PyObject *parse(PyObject *self, PyObject *args) {
    PyObject *bytes;
    Py_buffer data, kinds, out;
    Py_ssize_t start, stop, capacity;
    int delimiter;
    /* bytes, not any buffer: its trailing NUL stops strtod at the end of the data */
    if (!PyArg_ParseTuple(args, "Snniy*w*n", &bytes, &start, &stop, &delimiter, &kinds, &out, &capacity))
        return NULL;
    if (PyObject_GetBuffer(bytes, &data, PyBUF_SIMPLE)) {
        PyBuffer_Release(&kinds);
        PyBuffer_Release(&out);
        return NULL;
    }
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
    } else if (start < 0 || stop > data.len || start > stop || delimiter < 1 || delimiter > 127) {
        PyErr_SetString(PyExc_ValueError, "bad range or delimiter");
    } else {
        Py_ssize_t rows;
        Py_BEGIN_ALLOW_THREADS
        rows = parse_rows((const char *)data.buf, start, stop, (char)delimiter, k, kinds.len,
                          (char *)out.buf, capacity, point_ok);
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
