/* Optional C accelerator of the capture decoder: frames and decodes the *clean* messages
 * of a reassembled CTI byte stream.
 *
 * The pure-Python decoder (decode.py, capture/stream.py) is the reference and handles
 * everything; this module only takes the common case off its hands.  A message is clean
 * when its type has a plain compiled plan for the version (known layout, no alternative
 * layout), its body holds the whole fixed part, and every floating field is one of:
 *   - a STRING of 1..max bytes whose only NUL is its last byte,
 *   - a UINT/TIME/INT (4 bytes), USHORT/SHORT (2) or UCHAR (1) of exactly that size,
 *   - RAW/UNSPEC data within the tag's maximum size,
 * with every tag/length inside the message.  Such a message decodes without any anomaly,
 * and this code builds exactly the Message record decode.decode_message builds for it.
 * At the first message that is not clean (or not complete, or an OPEN_REQ the caller wants
 * to see, or above the version's maximum length) it stops and returns its offset: the
 * Python loop then deals with that message in full and calls back.
 *
 * Records are built the way the Python classes would build them, but without running
 * their Python-level constructors: Message is a slots dataclass whose slots are filled at
 * the offsets of its member descriptors, FloatItem a tuple subclass allocated with three
 * items.  configure() checks both shapes and refuses anything else, so a change of the
 * record classes makes the Python side fall back instead of crashing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <string.h>

/* Floating data kinds: the K_* numbers of decode.py. */
enum { K_STRING = 0, K_RAW = 1, K_UINT = 2, K_INT = 3, K_USHORT = 4, K_SHORT = 5, K_UCHAR = 6 };

#define MAX_TAG 1024 /* tags at or above this are not in the catalogue: never clean */
#define HEADER_SIZE 8
#define OPEN_REQ 3
#define WIDE_FLOATING_SINCE 20 /* 2+2-byte tag/length from protocol version 20 */

typedef struct {
    PyObject *name; /* NULL: tag unknown here, the message is not clean */
    int kind;
    Py_ssize_t maxlen;
} TagEntry;

enum {
    M_TYPE, M_NAME, M_FIELDS, M_FLOATING, M_ANOMALIES, M_RAW, M_VERSION,
    M_FRAME, M_TS, M_CONN, M_DIRECTION, M_EXTRA, M_COUNT
};
static const char *const MESSAGE_SLOTS[M_COUNT] = {
    "type", "name", "fields", "floating", "anomalies", "raw", "version",
    "frame", "ts", "conn", "direction", "extra",
};

static PyTypeObject *message_type = NULL;
static PyTypeObject *float_item_type = NULL;
static Py_ssize_t message_offsets[M_COUNT];
static TagEntry tag_table[MAX_TAG];
static PyObject *str_version_source = NULL;

static inline uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline uint16_t be16(const unsigned char *p) {
    return (uint16_t)((p[0] << 8) | p[1]);
}

static int slot_offset(PyTypeObject *tp, const char *name, Py_ssize_t *out) {
    PyObject *descr = PyObject_GetAttrString((PyObject *)tp, name);
    if (descr == NULL)
        return -1;
    int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type)
        && ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX
        && !(((PyMemberDescrObject *)descr)->d_member->flags & READONLY);
    if (ok)
        *out = ((PyMemberDescrObject *)descr)->d_member->offset;
    Py_DECREF(descr);
    if (!ok) {
        PyErr_Format(PyExc_TypeError, "%s.%s is not a writable object slot", tp->tp_name, name);
        return -1;
    }
    return 0;
}

static void clear_tags(void) {
    for (int i = 0; i < MAX_TAG; i++)
        Py_CLEAR(tag_table[i].name);
}

/* configure(message_cls, float_item_cls, tag_plan) - tag_plan: {tag: (name, kind, maxlen)} */
static PyObject *configure(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *mcls, *fcls, *plan;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyType_Type, &mcls, &PyType_Type, &fcls, &PyDict_Type, &plan))
        return NULL;
    PyTypeObject *mt = (PyTypeObject *)mcls, *ft = (PyTypeObject *)fcls;
    if (!PyType_IsSubtype(ft, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "the floating item class must be a tuple subclass");
        return NULL;
    }
    if (mt->tp_itemsize != 0 || mt->tp_dictoffset != 0) {
        PyErr_SetString(PyExc_TypeError, "the message class must be a slots class without __dict__");
        return NULL;
    }
    Py_ssize_t offsets[M_COUNT];
    for (int i = 0; i < M_COUNT; i++)
        if (slot_offset(mt, MESSAGE_SLOTS[i], &offsets[i]) < 0)
            return NULL;
    clear_tags();
    PyObject *key, *value;
    Py_ssize_t it = 0;
    while (PyDict_Next(plan, &it, &key, &value)) {
        long tag = PyLong_AsLong(key);
        if (tag == -1 && PyErr_Occurred())
            return NULL;
        if (tag < 0 || tag >= MAX_TAG)
            continue;
        PyObject *name;
        int kind;
        Py_ssize_t maxlen;
        if (!PyArg_ParseTuple(value, "Uin", &name, &kind, &maxlen))
            return NULL;
        if (kind > K_UCHAR)
            continue; /* compound kinds always go to Python */
        Py_INCREF(name);
        tag_table[tag].name = name;
        tag_table[tag].kind = kind;
        tag_table[tag].maxlen = maxlen;
    }
    memcpy(message_offsets, offsets, sizeof offsets);
    Py_INCREF(mt);
    Py_XSETREF(message_type, mt);
    Py_INCREF(ft);
    Py_XSETREF(float_item_type, ft);
    Py_RETURN_NONE;
}

static inline void set_slot(PyObject *obj, int slot, PyObject *value) {
    /* steals value; the slot of a fresh object is NULL */
    *(PyObject **)((char *)obj + message_offsets[slot]) = value;
}

static PyObject *float_item(Py_ssize_t tag, PyObject *name, PyObject *value) {
    /* steals value */
    if (value == NULL)
        return NULL;
    PyObject *item = float_item_type->tp_alloc(float_item_type, 3);
    if (item == NULL) {
        Py_DECREF(value);
        return NULL;
    }
    PyObject *tag_obj = PyLong_FromSsize_t(tag);
    if (tag_obj == NULL) {
        Py_DECREF(value);
        Py_DECREF(item);
        return NULL;
    }
    Py_INCREF(name);
    PyTuple_SET_ITEM(item, 0, tag_obj);
    PyTuple_SET_ITEM(item, 1, name);
    PyTuple_SET_ITEM(item, 2, value);
    return item;
}

/* Floating part of buf[pos:end] into a new list.  Returns 1 (clean, *out set), 0 (not
 * clean: let Python decode the message) or -1 (Python error). */
static int decode_floating(const unsigned char *buf, Py_ssize_t pos, Py_ssize_t end, int wide, PyObject **out) {
    PyObject *items = PyList_New(0);
    if (items == NULL)
        return -1;
    const Py_ssize_t head = wide ? 4 : 2;
    while (pos < end) {
        if (end - pos < head)
            goto unclean;
        Py_ssize_t tag, ln;
        if (wide) {
            tag = be16(buf + pos);
            ln = be16(buf + pos + 2);
        } else {
            tag = buf[pos];
            ln = buf[pos + 1];
        }
        const unsigned char *data = buf + pos + head;
        Py_ssize_t nxt = pos + head + ln;
        if (nxt > end || tag >= MAX_TAG)
            goto unclean;
        const TagEntry *t = &tag_table[tag];
        if (t->name == NULL || ln > t->maxlen)
            goto unclean;
        PyObject *value;
        switch (t->kind) {
        case K_STRING:
            if (ln == 0 || data[ln - 1] != 0 || memchr(data, 0, (size_t)(ln - 1)) != NULL)
                goto unclean;
            /* Strict UTF-8 and surrogateescape agree on valid UTF-8, and the Python
             * decoder falls back to surrogateescape on anything else. */
            value = PyUnicode_DecodeUTF8((const char *)data, ln - 1, "surrogateescape");
            break;
        case K_RAW:
            value = PyBytes_FromStringAndSize((const char *)data, ln);
            break;
        case K_UINT:
            if (ln != 4)
                goto unclean;
            value = PyLong_FromUnsignedLong(be32(data));
            break;
        case K_INT:
            if (ln != 4)
                goto unclean;
            value = PyLong_FromLong((int32_t)be32(data));
            break;
        case K_USHORT:
            if (ln != 2)
                goto unclean;
            value = PyLong_FromLong(be16(data));
            break;
        case K_SHORT:
            if (ln != 2)
                goto unclean;
            value = PyLong_FromLong((int16_t)be16(data));
            break;
        case K_UCHAR:
            if (ln != 1)
                goto unclean;
            value = PyLong_FromLong(data[0]);
            break;
        default:
            goto unclean;
        }
        PyObject *item = float_item(tag, t->name, value);
        if (item == NULL || PyList_Append(items, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(items);
            return -1;
        }
        Py_DECREF(item);
        pos = nxt;
    }
    *out = items;
    return 1;
unclean:
    Py_DECREF(items);
    return 0;
}

/* Fixed fields per the struct codes of the plan ("I", "i", "H", "h", "B", "b"). */
static PyObject *decode_fixed(const unsigned char *p, PyObject *names, const char *codes, Py_ssize_t n) {
    PyObject *fields = _PyDict_NewPresized(n);
    if (fields == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v;
        switch (codes[i]) {
        case 'I': v = PyLong_FromUnsignedLong(be32(p)); p += 4; break;
        case 'i': v = PyLong_FromLong((int32_t)be32(p)); p += 4; break;
        case 'H': v = PyLong_FromLong(be16(p)); p += 2; break;
        case 'h': v = PyLong_FromLong((int16_t)be16(p)); p += 2; break;
        case 'B': v = PyLong_FromLong(p[0]); p += 1; break;
        case 'b': v = PyLong_FromLong((signed char)p[0]); p += 1; break;
        default:
            PyErr_Format(PyExc_ValueError, "unknown fixed field code %c", codes[i]);
            v = NULL;
        }
        if (v == NULL || PyDict_SetItem(fields, PyTuple_GET_ITEM(names, i), v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(fields);
            return NULL;
        }
        Py_DECREF(v);
    }
    return fields;
}

/* frame_clean(data, pos, context, frame, ts, out) -> (pos, count, need_more)
 *
 * Decode the clean complete messages of data[pos:] and append their Message records to
 * out.  context: (version, max_body, plans, conn, direction, version_source,
 * stop_at_open_req), the per-direction constants of a CtiStream; plans: {message type:
 * (name, field names, unpack_from, fixed size, struct codes as bytes)} for the version
 * (decode.simple_plans(version)).  Stops at the first message that is incomplete (then
 * need_more is True), longer than max_body, not in plans, not clean, or (stop_at_open_req)
 * an OPEN_REQ; returns its offset and the number of records appended. */
static PyObject *frame_clean(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "frame_clean() takes 6 arguments");
        return NULL;
    }
    if (message_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "frame_clean() called before configure()");
        return NULL;
    }
    PyObject *data = args[0], *ctx = args[2];
    if (!PyBytes_Check(data) || !PyTuple_Check(ctx) || PyTuple_GET_SIZE(ctx) != 7 || !PyList_Check(args[5])
        || !PyDict_Check(PyTuple_GET_ITEM(ctx, 2))) {
        PyErr_SetString(PyExc_TypeError,
                        "frame_clean(): data must be bytes, context a 7-tuple with a plans dict, out a list");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    PyObject *version_obj = PyTuple_GET_ITEM(ctx, 0);
    long version = PyLong_AsLong(version_obj);
    Py_ssize_t max_body = PyLong_AsSsize_t(PyTuple_GET_ITEM(ctx, 1));
    if (PyErr_Occurred())
        return NULL;
    PyObject *plans = PyTuple_GET_ITEM(ctx, 2), *conn = PyTuple_GET_ITEM(ctx, 3);
    PyObject *direction = PyTuple_GET_ITEM(ctx, 4), *source = PyTuple_GET_ITEM(ctx, 5);
    PyObject *frame = args[3], *ts = args[4], *out = args[5];
    int stop_open = PyObject_IsTrue(PyTuple_GET_ITEM(ctx, 6));
    if (stop_open < 0)
        return NULL;
    const unsigned char *buf = (const unsigned char *)PyBytes_AS_STRING(data);
    const Py_ssize_t n = PyBytes_GET_SIZE(data);
    const int wide = version >= WIDE_FLOATING_SINCE;
    Py_ssize_t count = 0;
    int need_more = 1;
    if (pos < 0)
        pos = 0;

    while (n - pos >= HEADER_SIZE) {
        uint32_t length = be32(buf + pos), mtype = be32(buf + pos + 4);
        need_more = 0;
        if ((Py_ssize_t)length > max_body)
            break;
        if ((Py_ssize_t)length > n - pos - HEADER_SIZE) {
            need_more = 1;
            break;
        }
        if (mtype == OPEN_REQ && stop_open)
            break;
        PyObject *type_obj = PyLong_FromUnsignedLong(mtype);
        if (type_obj == NULL)
            return NULL;
        PyObject *plan = PyDict_GetItemWithError(plans, type_obj); /* borrowed */
        if (plan == NULL) {
            Py_DECREF(type_obj);
            if (PyErr_Occurred())
                return NULL;
            break;
        }
        if (!PyTuple_Check(plan) || PyTuple_GET_SIZE(plan) != 5 || !PyTuple_Check(PyTuple_GET_ITEM(plan, 1))
            || !PyBytes_Check(PyTuple_GET_ITEM(plan, 4))) {
            Py_DECREF(type_obj);
            PyErr_SetString(PyExc_TypeError, "frame_clean(): a plan must be (name, names, unpack, size, codes)");
            return NULL;
        }
        PyObject *names = PyTuple_GET_ITEM(plan, 1), *codes = PyTuple_GET_ITEM(plan, 4);
        Py_ssize_t size = PyLong_AsSsize_t(PyTuple_GET_ITEM(plan, 3));
        Py_ssize_t nfields = PyTuple_GET_SIZE(names);
        if (size == -1 && PyErr_Occurred()) {
            Py_DECREF(type_obj);
            return NULL;
        }
        if (size < 0 || size > (Py_ssize_t)length || PyBytes_GET_SIZE(codes) != nfields) {
            Py_DECREF(type_obj);
            break;
        }
        const Py_ssize_t body = pos + HEADER_SIZE, end = body + length;
        PyObject *floating = NULL;
        if (size == (Py_ssize_t)length)
            floating = PyList_New(0);
        else {
            int r = decode_floating(buf, body + size, end, wide, &floating);
            if (r <= 0) {
                Py_DECREF(type_obj);
                if (r < 0)
                    return NULL;
                break;
            }
        }
        PyObject *fields = floating ? decode_fixed(buf + body, names, PyBytes_AS_STRING(codes), nfields) : NULL;
        PyObject *anomalies = fields ? PyList_New(0) : NULL;
        PyObject *raw = anomalies ? PyBytes_FromStringAndSize((const char *)buf + pos, end - pos) : NULL;
        PyObject *extra = raw ? _PyDict_NewPresized(1) : NULL;
        PyObject *msg = NULL;
        if (extra != NULL && PyDict_SetItem(extra, str_version_source, source) == 0)
            msg = message_type->tp_alloc(message_type, 0);
        if (msg == NULL) {
            Py_DECREF(type_obj);
            Py_XDECREF(floating);
            Py_XDECREF(fields);
            Py_XDECREF(anomalies);
            Py_XDECREF(raw);
            Py_XDECREF(extra);
            return NULL;
        }
        PyObject *name = PyTuple_GET_ITEM(plan, 0);
        Py_INCREF(name);
        Py_INCREF(version_obj);
        Py_INCREF(frame);
        Py_INCREF(ts);
        Py_INCREF(conn);
        Py_INCREF(direction);
        set_slot(msg, M_TYPE, type_obj);
        set_slot(msg, M_NAME, name);
        set_slot(msg, M_FIELDS, fields);
        set_slot(msg, M_FLOATING, floating);
        set_slot(msg, M_ANOMALIES, anomalies);
        set_slot(msg, M_RAW, raw);
        set_slot(msg, M_VERSION, version_obj);
        set_slot(msg, M_FRAME, frame);
        set_slot(msg, M_TS, ts);
        set_slot(msg, M_CONN, conn);
        set_slot(msg, M_DIRECTION, direction);
        set_slot(msg, M_EXTRA, extra);
        int failed = PyList_Append(out, msg);
        Py_DECREF(msg);
        if (failed)
            return NULL;
        count++;
        pos = end;
        need_more = 1;
    }
    return Py_BuildValue("(nnO)", pos, count, need_more ? Py_True : Py_False);
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(message_cls, float_item_cls, tag_plan): the record classes and the floating tag plan."},
    {"frame_clean", (PyCFunction)(void (*)(void))frame_clean, METH_FASTCALL,
     "frame_clean(data, pos, context, frame, ts, out) -> (pos, count, need_more): decode the clean "
     "messages of data[pos:] into out; context is (version, max_body, plans, conn, direction, "
     "version_source, stop_at_open_req)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_fastframes",
    "C accelerator of the capture decoder's common case (see the source for what is clean).", -1, methods,
};

PyMODINIT_FUNC PyInit__fastframes(void) {
    str_version_source = PyUnicode_InternFromString("version_source");
    if (str_version_source == NULL)
        return NULL;
    return PyModule_Create(&module);
}
