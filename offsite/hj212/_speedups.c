/*
 * The CP scan of the HJ 212 decoder in C: the one loop that dominates decoding.
 *
 * scan_cp(body: bytes) -> (pairs, groups) | None
 *   pairs:  tuple of (key, value) str tuples, in order, duplicates kept
 *   groups: list of (code, texts: dict[suffix, str], numbers: dict[suffix, float]) for every
 *           "code-Suffix" key, in order of first appearance, first value of a duplicate suffix
 * None means "not the plain case": the Python path (offsite/hj212/decoder.py) handles it and
 * raises the precise error. The Python path is also the oracle this module is tested against.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <string.h>

static int is_text_suffix(const char *s, Py_ssize_t n) {
    /* Must match decoder.TEXT_SUFFIXES. */
    return (n == 4 && memcmp(s, "Flag", 4) == 0) || (n == 5 && memcmp(s, "EFlag", 5) == 0) ||
           (n == 10 && memcmp(s, "SampleTime", 10) == 0) || (n == 2 && memcmp(s, "SN", 2) == 0);
}

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                               1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Plain decimals ([-+]digits[.digits], at most 15 digits): mantissa / 10^k is exact-then-rounded
 * once (both operands are exact doubles), so the result equals float(text) bit for bit. */
static int fast_decimal(const char *s, Py_ssize_t n, double *out) {
    Py_ssize_t i = 0;
    int negative = 0, digits = 0, frac = -1;
    long long mantissa = 0;
    double value;
    if (s[0] == '-' || s[0] == '+') {
        negative = s[0] == '-';
        i = 1;
    }
    for (; i < n; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            if (++digits > 15) return 0;
            mantissa = mantissa * 10 + (c - '0');
            if (frac >= 0) frac++;
        } else if (c == '.' && frac < 0) {
            frac = 0;
        } else {
            return 0;
        }
    }
    if (digits == 0) return 0;
    value = (double)mantissa;
    if (frac > 0) value /= POW10[frac];
    *out = negative ? -value : value;
    return 1;
}

/* 1: number stored in *out; 0: not a number (kept as text); -1: let Python decide. */
static int parse_number(const char *s, Py_ssize_t n, double *out) {
    char buf[64];
    Py_ssize_t i;
    char *end = NULL;
    double value;
    if (n == 0) return 0;
    if (n >= (Py_ssize_t)sizeof(buf)) return -1;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        /* Python's float() also takes blanks, underscores and non-ASCII digits. */
        if (c == '_' || c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f' || c >= 0x80) return -1;
    }
    if (fast_decimal(s, n, out)) return 1;
    memcpy(buf, s, (size_t)n);
    buf[n] = '\0';
    value = PyOS_string_to_double(buf, &end, NULL);
    if (end != buf + n) {
        PyErr_Clear();
        return 0;
    }
    if (!isfinite(value)) return 0;
    *out = value;
    return 1;
}

/* A str from UTF-8 bytes; ASCII (nearly everything here) skips the decoder's checks. */
static PyObject *text(const char *s, Py_ssize_t n) {
    Py_ssize_t i;
    PyObject *result;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80) return PyUnicode_DecodeUTF8(s, n, NULL);
    result = PyUnicode_New(n, 127);
    if (result) memcpy(PyUnicode_1BYTE_DATA(result), s, (size_t)n);
    return result;
}

static const char *COMMON_SUFFIXES[] = {"Rtd",   "Min",   "Avg",   "Max",  "Cou", "Flag", "EFlag", "ZsRtd", "ZsMin",
                                        "ZsAvg", "ZsMax", "SampleTime", "Info", "SN", "RS",   "RT",    NULL};
static PyObject *suffix_objects[32];

/* A new reference to the suffix as str, shared for the common ones. */
static PyObject *suffix_text(const char *s, Py_ssize_t n) {
    int k;
    for (k = 0; COMMON_SUFFIXES[k]; k++)
        if ((Py_ssize_t)strlen(COMMON_SUFFIXES[k]) == n && memcmp(COMMON_SUFFIXES[k], s, (size_t)n) == 0) {
            Py_INCREF(suffix_objects[k]);
            return suffix_objects[k];
        }
    return text(s, n);
}

static PyObject *scan_cp(PyObject *self, PyObject *arg) {
    const char *data;
    Py_ssize_t size, pos = 0, n_items = 0, i;
    PyObject *pairs = NULL, *groups = NULL, *index = NULL, *result = NULL;
    PyObject *last_group = NULL; /* borrowed from groups */
    const char *last_code = NULL;
    Py_ssize_t last_code_len = -1;
    (void)self;

    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "scan_cp expects bytes");
        return NULL;
    }
    data = PyBytes_AS_STRING(arg);
    size = PyBytes_GET_SIZE(arg);
    if (size == 0) Py_RETURN_NONE;
    for (i = 0; i < size; i++)
        if (data[i] == ';' || data[i] == ',') n_items++;
    n_items++;

    pairs = PyTuple_New(n_items);
    groups = PyList_New(0);
    index = PyDict_New(); /* code -> position in groups */
    if (!pairs || !groups || !index) goto fail;

    for (i = 0; i < n_items; i++) {
        Py_ssize_t start = pos, eq = -1, dash = -1, stop;
        PyObject *key, *value, *pair;
        while (pos < size && data[pos] != ';' && data[pos] != ',') {
            if (data[pos] == '=' && eq < 0) eq = pos;
            else if (data[pos] == '=') goto plain; /* '=' inside a value */
            pos++;
        }
        stop = pos;
        pos++; /* past the separator */
        if (eq <= start) goto plain; /* empty item, no '=' or empty key */
        key = text(data + start, eq - start);
        if (!key) goto plain_clear;
        value = text(data + eq + 1, stop - eq - 1);
        if (!value) {
            Py_DECREF(key);
            goto plain_clear;
        }
        pair = PyTuple_Pack(2, key, value);
        if (!pair) {
            Py_DECREF(key);
            Py_DECREF(value);
            goto fail;
        }
        PyTuple_SET_ITEM(pairs, i, pair);

        for (Py_ssize_t j = eq - 1; j > start; j--)
            if (data[j] == '-') {
                dash = j;
                break;
            }
        if (dash > start) {
            PyObject *code, *suffix, *group = NULL, *texts, *numbers, *at = NULL;
            int known;
            if (last_group && dash - start == last_code_len && memcmp(data + start, last_code, (size_t)last_code_len) == 0) {
                /* consecutive items of one factor: same code, same group */
                group = last_group;
                code = PyTuple_GET_ITEM(group, 0);
                Py_INCREF(code);
            } else {
                code = text(data + start, dash - start);
            }
            suffix = suffix_text(data + dash + 1, eq - dash - 1);
            if (!code || !suffix) {
                Py_XDECREF(code);
                Py_XDECREF(suffix);
                Py_DECREF(key);
                Py_DECREF(value);
                goto plain_clear;
            }
            if (!group) at = PyDict_GetItemWithError(index, code);
            if (group) {
                /* found above */
            } else if (at) {
                group = PyList_GET_ITEM(groups, PyLong_AsSsize_t(at));
            } else {
                PyObject *position;
                if (PyErr_Occurred()) goto item_fail;
                texts = PyDict_New();
                numbers = PyDict_New();
                group = (texts && numbers) ? PyTuple_Pack(3, code, texts, numbers) : NULL;
                Py_XDECREF(texts);
                Py_XDECREF(numbers);
                if (!group) goto item_fail;
                position = PyLong_FromSsize_t(PyList_GET_SIZE(groups));
                if (!position || PyDict_SetItem(index, code, position) < 0 || PyList_Append(groups, group) < 0) {
                    Py_XDECREF(position);
                    Py_DECREF(group);
                    goto item_fail;
                }
                Py_DECREF(position);
                Py_DECREF(group); /* the list holds it */
            }
            last_group = group;
            last_code = data + start;
            last_code_len = dash - start;
            texts = PyTuple_GET_ITEM(group, 1);
            numbers = PyTuple_GET_ITEM(group, 2);
            known = PyDict_Contains(texts, suffix);
            if (known < 0) goto item_fail;
            if (!known) {
                if (PyDict_SetItem(texts, suffix, value) < 0) goto item_fail;
                if (!is_text_suffix(data + dash + 1, eq - dash - 1)) {
                    double number;
                    int parsed = parse_number(data + eq + 1, stop - eq - 1, &number);
                    if (parsed < 0) {
                        Py_DECREF(code);
                        Py_DECREF(suffix);
                        Py_DECREF(key);
                        Py_DECREF(value);
                        goto plain;
                    }
                    if (parsed > 0) {
                        PyObject *f = PyFloat_FromDouble(number);
                        if (!f || PyDict_SetItem(numbers, suffix, f) < 0) {
                            Py_XDECREF(f);
                            goto item_fail;
                        }
                        Py_DECREF(f);
                    }
                }
            }
            Py_DECREF(code);
            Py_DECREF(suffix);
            goto item_done;
        item_fail:
            Py_DECREF(code);
            Py_DECREF(suffix);
            Py_DECREF(key);
            Py_DECREF(value);
            goto fail;
        }
    item_done:
        Py_DECREF(key);
        Py_DECREF(value);
    }
    result = PyTuple_Pack(2, pairs, groups);
    Py_DECREF(pairs);
    Py_DECREF(groups);
    Py_DECREF(index);
    return result;

plain_clear:
    PyErr_Clear();
plain:
    Py_XDECREF(pairs);
    Py_XDECREF(groups);
    Py_XDECREF(index);
    Py_RETURN_NONE;
fail:
    Py_XDECREF(pairs);
    Py_XDECREF(groups);
    Py_XDECREF(index);
    return NULL;
}

static PyMethodDef methods[] = {
    {"scan_cp", scan_cp, METH_O, "Split a CP body into pairs and factor groups, or None for the Python path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "offsite.hj212._speedups", NULL, -1, methods};

PyMODINIT_FUNC PyInit__speedups(void) {
    int k;
    for (k = 0; COMMON_SUFFIXES[k]; k++) {
        suffix_objects[k] = PyUnicode_InternFromString(COMMON_SUFFIXES[k]);
        if (!suffix_objects[k]) return NULL;
    }
    return PyModule_Create(&module);
}
